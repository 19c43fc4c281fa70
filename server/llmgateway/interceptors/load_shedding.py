"""Load shedding: past `max_concurrent_calls` chat calls in flight, new ones are refused at once
with UNAVAILABLE and RetryInfo, never queued without bound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from llmgateway.errors import GatewayError
from llmgateway.interceptors.handlers import (
    Context,
    Continuation,
    Handler,
    StreamBehavior,
    UnaryBehavior,
    WrappedHandlers,
    is_chat_call,
)

_RETRY_AFTER_S = 1.0


def _overloaded(limit: int) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        "OVERLOADED",
        f"the gateway is at its limit of {limit} concurrent calls; retry shortly",
        retry_after=_RETRY_AFTER_S,
    )


class LoadSheddingInterceptor(grpc.aio.ServerInterceptor):
    """Counts chat calls in flight and refuses those beyond the limit."""

    def __init__(self, max_concurrent_calls: int) -> None:
        self._limit = max_concurrent_calls
        self.in_flight = 0
        self._wrapped = WrappedHandlers.around(self._wrap_unary, self._wrap_stream)

    def _enter(self) -> None:
        if self.in_flight >= self._limit:
            raise _overloaded(self._limit)
        self.in_flight += 1

    def _wrap_unary(self, behavior: UnaryBehavior) -> UnaryBehavior:
        async def unary(request: Any, context: Context) -> Any:
            self._enter()
            try:
                return await behavior(request, context)
            finally:
                self.in_flight -= 1

        return unary

    def _wrap_stream(self, behavior: StreamBehavior) -> StreamBehavior:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            self._enter()
            try:
                async for message in behavior(request, context):
                    yield message
            finally:
                self.in_flight -= 1

        return stream

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or not is_chat_call(handler_call_details):
            return handler
        return self._wrapped.get(str(handler_call_details.method), handler)
