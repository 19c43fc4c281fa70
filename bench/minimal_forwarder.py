"""The floor: the least a grpc.aio → httpx → OpenAI-compatible upstream forwarder can do.

No auth, limits, routing, retries, validation or telemetry. The issue's floor is grpc.aio → httpx
(its own connection pool) on uvloop, like the gateway's event loop; `--transport aiohttp` sends
through the gateway's own upstream client and pool instead (providers/http/: the aiohttp transport
behind the transport seam), the floor for the gateway's exact runtime. Both are measured by
`make bench`.

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

from bench.unimplemented import WithoutCountTokens
from bench.upstream import UPSTREAM_POOL
from llmgateway.config import ProviderSettings
from llmgateway.providers.http.client import UpstreamClient
from llmgateway.providers.http.decoding import decoded
from llmgateway.providers.http.framing import ndjson_lines
from llmgateway.providers.wire_json import JSON_CONTENT
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


def reply(body: dict[str, Any]) -> chat_pb2.ChatResponse:
    choice, usage = body["choices"][0], body["usage"]
    return chat_pb2.ChatResponse(
        id=body["id"],
        model=body["model"],
        message=content_pb2.Message(
            role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(text=choice["message"]["content"])]
        ),
        finish_reason=chat_pb2.FINISH_REASON_STOP,
        usage=chat_pb2.Usage(input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]),
    )


def stream_message(line: str | bytes) -> chat_pb2.ChatStreamResponse | None:
    """The stream message for one SSE line, if it carries one."""
    text = line.decode() if isinstance(line, bytes) else line
    if not text.startswith("data: ") or text == "data: [DONE]":
        return None
    chunk = json.loads(text[6:])
    if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
        return chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(text=chunk["choices"][0]["delta"]["content"]))
    if chunk.get("usage"):
        return chat_pb2.ChatStreamResponse(
            usage=chat_pb2.Usage(output_tokens=chunk["usage"]["completion_tokens"])
        )
    return None


class Forwarder(WithoutCountTokens, chat_pb2_grpc.ChatServiceServicer):
    """Through httpx's client and its own pool."""

    def __init__(self, upstream: str, api_key: str) -> None:
        headers = {"authorization": f"Bearer {api_key}"}
        self.http = httpx.AsyncClient(base_url=upstream, headers=headers, timeout=30.0)

    async def Chat(self, request: chat_pb2.ChatRequest, context: Any) -> chat_pb2.ChatResponse:  # noqa: N802
        return reply((await self.http.post("/chat/completions", json=wire_body(request, False))).json())

    async def ChatStream(  # noqa: N802
        self, request: chat_pb2.ChatStreamRequest, context: Any
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        body = wire_body(request, True)
        async with self.http.stream("POST", "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                message = stream_message(line)
                if message is not None:
                    yield message


class GatewayPoolForwarder(WithoutCountTokens, chat_pb2_grpc.ChatServiceServicer):
    """Through the gateway's own upstream client (its aiohttp transport)."""

    def __init__(self, upstream: str, api_key: str, transport: str = "aiohttp") -> None:
        settings = ProviderSettings.model_validate(
            {
                "name": "forwarder",
                "type": "openai",
                "base_url": upstream,
                "max_connections": UPSTREAM_POOL,
                "keepalive_expiry_s": 60,
                "timeouts": {"total_s": 30},
            }
        )
        self.http = UpstreamClient(settings, upstream, {"authorization": f"Bearer {api_key}"})
        if transport == "pyreqwest":  # the Rust-backed client measured against aiohttp (issue 25)
            from bench.rust_transport import PyreqwestTransport  # noqa: PLC0415 (not installed by default)

            self.http._transport = PyreqwestTransport(
                "forwarder", max_connections=UPSTREAM_POOL, keepalive_expiry_s=60
            )

    async def Chat(self, request: chat_pb2.ChatRequest, context: Any) -> chat_pb2.ChatResponse:  # noqa: N802
        answer = await self.http.post(
            "/chat/completions", content=json.dumps(wire_body(request, False)).encode()
        )
        return reply(json.loads(answer.body))

    async def ChatStream(  # noqa: N802
        self, request: chat_pb2.ChatStreamRequest, context: Any
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        body = json.dumps(wire_body(request, True)).encode()
        async with self.http.stream("/chat/completions", content=body, headers=JSON_CONTENT) as answer:
            async for line in ndjson_lines(decoded(answer, "forwarder"), "forwarder", 1 << 20):
                message = stream_message(line)
                if message is not None:
                    yield message


async def serve(listen: str, upstream: str, api_key: str, transport: str) -> None:
    server = grpc.aio.server()
    if transport == "httpx":
        servicer: chat_pb2_grpc.ChatServiceServicer = Forwarder(upstream, api_key)
    else:
        servicer = GatewayPoolForwarder(upstream, api_key, transport)
    chat_pb2_grpc.add_ChatServiceServicer_to_server(servicer, server)
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
        choices=["httpx", "aiohttp", "pyreqwest"],
        default="httpx",
        help="httpx's own pool, the gateway's (aiohttp), or the gateway's client on pyreqwest",
    )
    args = parser.parse_args()
    main = serve(args.listen, args.upstream, args.api_key, args.transport)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
