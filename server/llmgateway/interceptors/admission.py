"""Admission of authenticated chat calls: the key's and tenant's rate limits, concurrency and
budgets before the call, settled with the real usage and cost after it (however it ended)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from llmgateway.auth.context import principal
from llmgateway.interceptors.handlers import (
    Context,
    Continuation,
    Handler,
    StreamBehavior,
    UnaryBehavior,
    WrappedHandlers,
    is_chat_call,
)
from llmgateway.limits.admission import Admission, Ticket
from llmgateway.observability.call_record import record as current_record
from llmgateway.routing import estimate
from llmgateway.v1 import chat_pb2


def _as_chat_request(request: Any) -> chat_pb2.ChatRequest:
    if isinstance(request, chat_pb2.ChatRequest):
        return request
    return chat_pb2.ChatRequest.FromString(request.SerializeToString())


class AdmissionInterceptor(grpc.aio.ServerInterceptor):
    """`admission()` gives the current Admission (None: no limits to apply)."""

    def __init__(self, admission: Callable[[], Admission | None]) -> None:
        self._admission = admission
        self._wrapped = WrappedHandlers.around(self._wrap_unary, self._wrap_stream)

    async def _admit(self, request: Any) -> tuple[Admission, Ticket] | None:
        admission, who = self._admission(), principal()
        if admission is None or who is None:
            return None
        chat_request = _as_chat_request(request)
        tokens = estimate.prompt_tokens(chat_request) + estimate.output_tokens(chat_request)
        return admission, await admission.admit(who, tokens)

    @staticmethod
    async def _settle(admitted: tuple[Admission, Ticket] | None) -> None:
        if admitted is None:
            return
        admission, ticket = admitted
        observed = current_record()
        usage = observed.usage if observed is not None else chat_pb2.Usage()
        # Shielded: a call cancelled by its caller must still give back what it did not use.
        await asyncio.shield(admission.settle(ticket, usage))

    def _wrap_unary(self, behavior: UnaryBehavior) -> UnaryBehavior:
        async def unary(request: Any, context: Context) -> Any:
            admitted = await self._admit(request)
            try:
                return await behavior(request, context)
            finally:
                await self._settle(admitted)

        return unary

    def _wrap_stream(self, behavior: StreamBehavior) -> StreamBehavior:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            admitted = await self._admit(request)
            try:
                async for message in behavior(request, context):
                    yield message
            finally:
                await self._settle(admitted)

        return stream

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or not is_chat_call(handler_call_details):
            return handler
        return self._wrapped.get(str(handler_call_details.method), handler)
