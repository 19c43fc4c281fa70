"""The machine's yardstick: a bare grpc.aio server on uvloop that answers `Chat` at once.

The issue's reference figures came from another machine "like ours" (a bare grpc.aio echo server
there: about 3,900 calls/s, p50/p99 0.26/0.40 ms at concurrency 1). Measuring the same kind of
server here, in the same run, says how this machine compares, so absolute targets (p99 ≤ 2.5 ms, at
most 1 ms added to the first token) can be read against what the machine gives a server that does
nothing. No upstream, no JSON, no interceptors: one canned reply (a stream: one canned delta).

    python -m bench.echo_server --listen 127.0.0.1:18200
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

import grpc
import uvloop

from bench.unimplemented import WithoutCountTokens
from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2

REPLY = chat_pb2.ChatResponse(
    id="echo",
    model="echo",
    message=content_pb2.Message(role=content_pb2.ROLE_ASSISTANT, parts=[content_pb2.Part(text="Hello.")]),
    finish_reason=chat_pb2.FINISH_REASON_STOP,
)


class Echo(WithoutCountTokens, chat_pb2_grpc.ChatServiceServicer):
    async def Chat(self, request: chat_pb2.ChatRequest, context: Any) -> chat_pb2.ChatResponse:  # noqa: N802
        return REPLY

    async def ChatStream(  # noqa: N802
        self, request: chat_pb2.ChatStreamRequest, context: Any
    ) -> AsyncIterator[chat_pb2.ChatStreamResponse]:
        yield chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(text="Hello."))

    async def CountTokens(  # noqa: N802
        self, request: chat_pb2.CountTokensRequest, context: Any
    ) -> chat_pb2.CountTokensResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the yardstick answers Chat and ChatStream only")
        raise AssertionError("abort raises")


async def serve(listen: str) -> None:
    server = grpc.aio.server()
    chat_pb2_grpc.add_ChatServiceServicer_to_server(Echo(), server)
    server.add_insecure_port(listen)
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_server")
    parser.add_argument("--listen", required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.listen))


if __name__ == "__main__":
    main()
