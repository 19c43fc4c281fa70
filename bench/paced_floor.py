"""The ceiling of a Python relay (issue 25, item 2): a ChatStream server with no upstream that paces
its own tokens, so its CPU per token is what the server stack alone costs; and the same for the
HTTP doors' stack, an OpenAI Chat Completions SSE server.

`make bench-streams` holds K streams against it exactly as against the gateway: 200 tokens, one
every 20 ms, each " t<unix nanoseconds>" stamped with the moment it was due (as the upstream stamps
the moment it wrote a token), so the load client (bench/stream_capacity) measures the same added gap
and relay delay, and a server that falls behind its schedule shows it. A relay does everything this
does plus read its upstream, so no relay on the same stack can hold more streams per core or spend
less CPU per token than this server does at the same K.

Three stacks:
- grpc-aio: grpcio's asyncio server (the gateway's, the minimal forwarder's), on uvloop;
- grpclib: a pure-Python gRPC server on h2 that runs in the event loop's thread, on uvloop. It is
  measured because grpc.aio hands every write to grpc's own threads and back (bench/STREAMS.md),
  and grpclib does not; it is in uv.lock's `bench` group only, not a dependency of the gateway;
- aiohttp-sse: aiohttp's web server (the gateway's HTTP doors'), on uvloop, answering
  `POST /v1/chat/completions` with one `chat.completion.chunk` event per token and `[DONE]`, each
  written as the door writes its events (frontends/http/sse.py: one write per event).

    python -m bench.paced_floor --listen 127.0.0.1:18300 --stack grpc-aio
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
import uvloop

from bench.unimplemented import WithoutCountTokens
from llmgateway.v1 import chat_pb2, chat_pb2_grpc

CHAT_STREAM = "/llmgateway.v1.ChatService/ChatStream"


def stamped_token(due_ns: int) -> chat_pb2.ChatStreamResponse:
    return chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(text=f" t{due_ns}"))


async def paced(tokens: int, inter_token_s: float) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
    """`tokens` tokens on a fixed schedule from the call's start, each stamped with the moment it
    was due, not the moment it was written: a server too busy to keep the schedule shows as added
    gap and relay delay, as a relay's does when its upstream's tokens wait for it."""
    loop = asyncio.get_running_loop()
    start, start_ns = loop.time(), time.time_ns()
    step_ns = round(inter_token_s * 1e9)
    for index in range(1, tokens + 1):
        delay = start + index * inter_token_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield stamped_token(start_ns + index * step_ns)


class GrpcAioFloor(WithoutCountTokens, chat_pb2_grpc.ChatServiceServicer):
    def __init__(self, tokens: int, inter_token_s: float) -> None:
        self.tokens, self.inter_token_s = tokens, inter_token_s

    async def Chat(  # noqa: N802 (the generated servicer's name)
        self, request: chat_pb2.ChatRequest, context: Any
    ) -> chat_pb2.ChatResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor server answers ChatStream only")
        raise AssertionError("abort raises")

    async def ChatStream(  # noqa: N802
        self, request: chat_pb2.ChatStreamRequest, context: Any
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        async for message in paced(self.tokens, self.inter_token_s):
            yield message


async def serve_grpc_aio(host: str, port: int, tokens: int, inter_token_s: float) -> None:
    server = grpc.aio.server()
    chat_pb2_grpc.add_ChatServiceServicer_to_server(GrpcAioFloor(tokens, inter_token_s), server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await server.wait_for_termination()


async def serve_grpclib(host: str, port: int, tokens: int, inter_token_s: float) -> None:
    # Imported here: grpclib is in the `bench` group only (make bench-streams installs it).
    from grpclib.const import Cardinality, Handler  # noqa: PLC0415
    from grpclib.server import Server, Stream  # noqa: PLC0415

    class GrpclibFloor:
        async def chat_stream(
            self, stream: Stream[chat_pb2.ChatStreamRequest, chat_pb2.ChatStreamResponse]
        ) -> None:
            await stream.recv_message()
            async for message in paced(tokens, inter_token_s):
                await stream.send_message(message)

        def __mapping__(self) -> dict[str, Handler]:  # grpclib finds handlers by this name
            return {
                CHAT_STREAM: Handler(
                    self.chat_stream,
                    Cardinality.UNARY_STREAM,
                    chat_pb2.ChatStreamRequest,
                    chat_pb2.ChatStreamResponse,
                )
            }

    server = Server([GrpclibFloor()])
    await server.start(host, port)
    await server.wait_closed()


async def serve_aiohttp_sse(host: str, port: int, tokens: int, inter_token_s: float) -> None:
    from aiohttp import web  # noqa: PLC0415

    from bench.sse_passthrough import serve_completions  # noqa: PLC0415

    async def completions(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        async for message in paced(tokens, inter_token_s):
            chunk = {
                "id": "chatcmpl-floor",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "paced",
                "choices": [{"index": 0, "delta": {"content": message.delta.text}, "finish_reason": None}],
            }
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response

    await serve_completions(host, port, completions)


SERVERS = {"grpc-aio": serve_grpc_aio, "grpclib": serve_grpclib, "aiohttp-sse": serve_aiohttp_sse}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.paced_floor")
    parser.add_argument("--listen", required=True, help="host:port")
    parser.add_argument("--stack", choices=sorted(SERVERS), default="grpc-aio")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--inter-token", type=float, default=0.02, help="seconds between tokens")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    uvloop.run(SERVERS[args.stack](host, int(port), args.tokens, args.inter_token))


if __name__ == "__main__":
    main()
