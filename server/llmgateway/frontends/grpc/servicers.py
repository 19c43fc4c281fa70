"""The ChatService, EmbeddingService and ModelService servicers: metadata in, the core's answer out, with who served
it as trailing metadata; proto in, proto out; no pipeline of their own."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import grpc

from llmgateway.core.identity import CallerIdentity
from llmgateway.core.pipeline import Core
from llmgateway.observability.call_record import CallRecord
from llmgateway.v1 import (
    chat_pb2,
    chat_pb2_grpc,
    embeddings_pb2,
    embeddings_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
)

Context = grpc.aio.ServicerContext[object, object]


def caller_of(context: Context) -> CallerIdentity:
    """The caller as the core sees it: the call's text metadata and its deadline."""
    headers = tuple(
        (item[0], item[1]) for item in context.invocation_metadata() or () if isinstance(item[1], str)
    )
    return CallerIdentity(headers=headers, time_remaining=context.time_remaining)


def _report_served(context: Context, outcome: CallRecord) -> None:
    """Who served the call, as trailing metadata. Trailers rather than headers: grpc.aio sends custom
    initial metadata in a batch of its own, never with the response — about 0.4 ms of CPU per unary
    call and a round trip through grpc's completion queue before a stream's first token on the
    benchmark machine (bench/RESULTS.md). A stream that fails after it was served keeps them beside
    its error's details (frontends/grpc/status.py)."""
    if outcome.served is not None:
        context.set_trailing_metadata(outcome.served.headers())


class ChatServicer(chat_pb2_grpc.ChatServiceServicer):
    """Chat, ChatStream and CountTokens, through the core."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def Chat(self, request: chat_pb2.ChatRequest, context: Context) -> chat_pb2.ChatResponse:
        response, outcome = await self._core.chat(request, caller_of(context))
        _report_served(context, outcome)
        return response

    async def ChatStream(
        self, request: chat_pb2.ChatStreamRequest, context: Context
    ) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        # ChatStreamRequest has ChatRequest's fields under the same numbers: one wire form, one model.
        chat_request = chat_pb2.ChatRequest.FromString(request.SerializeToString())
        messages, outcome = self._core.chat_stream(chat_request, caller_of(context))
        try:
            async with aclosing(messages):
                async for message in messages:
                    yield message
        finally:
            _report_served(context, outcome)

    async def CountTokens(
        self, request: chat_pb2.CountTokensRequest, context: Context
    ) -> chat_pb2.CountTokensResponse:
        response, outcome = await self._core.count_tokens(request, caller_of(context))
        _report_served(context, outcome)
        return response


class EmbeddingServicer(embeddings_pb2_grpc.EmbeddingServiceServicer):
    """Embed, through the core."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def Embed(
        self, request: embeddings_pb2.EmbedRequest, context: Context
    ) -> embeddings_pb2.EmbedResponse:
        response, outcome = await self._core.embed(request, caller_of(context))
        _report_served(context, outcome)
        return response


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    """ListModels, through the core."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def ListModels(
        self, request: models_pb2.ListModelsRequest, context: Context
    ) -> models_pb2.ListModelsResponse:
        return await self._core.list_models(caller_of(context))
