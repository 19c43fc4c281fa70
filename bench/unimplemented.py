"""What the benchmark's own servers (the bare echo server, the minimal forwarder) leave out of
ChatService: they measure Chat and ChatStream only."""

from __future__ import annotations

from typing import Any

import grpc

from llmgateway.v1 import chat_pb2


class WithoutCountTokens:
    """CountTokens answered UNIMPLEMENTED, as grpc's generated base would at run time."""

    async def CountTokens(  # noqa: N802 (the generated servicer's name)
        self, request: chat_pb2.CountTokensRequest, context: Any
    ) -> chat_pb2.CountTokensResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the benchmark's servers do not count tokens")
        raise AssertionError("abort raises")
