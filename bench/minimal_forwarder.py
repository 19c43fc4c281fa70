"""The floor: the least a grpc.aio → httpx → OpenAI-compatible upstream forwarder can do.

No auth, limits, routing, retries, validation or telemetry. The issue's floor is grpc.aio → httpx
(its own connection pool) on uvloop, like the gateway's event loop; `--transport aiohttp` gives it
the gateway's connection pool too (providers/aiohttp_transport.py), the floor for the gateway's
exact runtime. Both are measured by `make bench`.

    python -m bench.minimal_forwarder --listen 127.0.0.1:18100 --upstream http://127.0.0.1:18000/v1
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx

from llmgateway.providers.aiohttp_transport import AiohttpTransport
from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2

ROLES = {
    content_pb2.ROLE_SYSTEM: "system",
    content_pb2.ROLE_USER: "user",
    content_pb2.ROLE_ASSISTANT: "assistant",
}


def wire_body(request: chat_pb2.ChatRequest | chat_pb2.ChatStreamRequest, stream: bool) -> dict[str, Any]:
    messages = [
        {"role": ROLES.get(m.role, "user"), "content": "".join(p.text for p in m.parts)}
        for m in request.messages
    ]
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


class Forwarder(chat_pb2_grpc.ChatServiceServicer):
    def __init__(self, upstream: str, api_key: str, transport: str) -> None:
        headers = {"authorization": f"Bearer {api_key}"}
        pool = (
            AiohttpTransport(max_connections=100, keepalive_expiry_s=60) if transport == "aiohttp" else None
        )
        self.http = httpx.AsyncClient(base_url=upstream, headers=headers, timeout=30.0, transport=pool)

    async def Chat(self, request: chat_pb2.ChatRequest, context: Any) -> chat_pb2.ChatResponse:  # noqa: N802
        reply = (await self.http.post("/chat/completions", json=wire_body(request, False))).json()
        choice, usage = reply["choices"][0], reply["usage"]
        return chat_pb2.ChatResponse(
            id=reply["id"],
            model=reply["model"],
            message=content_pb2.Message(
                role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(text=choice["message"]["content"])]
            ),
            finish_reason=chat_pb2.FINISH_REASON_STOP,
            usage=chat_pb2.Usage(
                input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]
            ),
        )

    async def ChatStream(  # noqa: N802
        self, request: chat_pb2.ChatStreamRequest, context: Any
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        body = wire_body(request, True)
        async with self.http.stream("POST", "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    yield chat_pb2.ChatStreamResponse(
                        delta=chat_pb2.Delta(text=chunk["choices"][0]["delta"]["content"])
                    )
                elif chunk.get("usage"):
                    yield chat_pb2.ChatStreamResponse(
                        usage=chat_pb2.Usage(output_tokens=chunk["usage"]["completion_tokens"])
                    )


async def serve(listen: str, upstream: str, api_key: str, transport: str) -> None:
    server = grpc.aio.server()
    chat_pb2_grpc.add_ChatServiceServicer_to_server(Forwarder(upstream, api_key, transport), server)
    server.add_insecure_port(listen)
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.minimal_forwarder")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--upstream", required=True, help="base URL ending in /v1")
    parser.add_argument("--api-key", default="sk-bench")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument(
        "--transport",
        choices=["httpx", "aiohttp"],
        default="httpx",
        help="httpx's own pool, or the gateway's",
    )
    args = parser.parse_args()
    main = serve(args.listen, args.upstream, args.api_key, args.transport)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
