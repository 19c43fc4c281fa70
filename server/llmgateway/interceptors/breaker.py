"""Fail fast when every deployment that could serve the requested model has an open breaker:
UNAVAILABLE with RetryInfo, without touching the network."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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


class BreakerInterceptor(grpc.aio.ServerInterceptor):
    """Checks the requested model's breakers before the call reaches the servicer.

    `open_until(model)` answers seconds until a probe is allowed when all candidates are open,
    else None; it is the router's, passed in so this interceptor knows nothing of routing."""

    def __init__(self, open_until: Callable[[str], float | None]) -> None:
        self._open_until = open_until
        self._wrapped = WrappedHandlers.around(self._wrap_unary, self._wrap_stream)

    def _check(self, request: Any) -> None:
        model = getattr(request, "model", "")
        retry_in = self._open_until(model) if isinstance(model, str) and model else None
        if retry_in is not None:
            raise GatewayError(
                grpc.StatusCode.UNAVAILABLE,
                "BREAKER_OPEN",
                f"every deployment that can serve model {model!r} is failing; not calling them for now",
                metadata={"model": model},
                retry_after=max(retry_in, 0.001),
            )

    def _wrap_unary(self, behavior: UnaryBehavior) -> UnaryBehavior:
        async def unary(request: Any, context: Context) -> Any:
            self._check(request)
            return await behavior(request, context)

        return unary

    def _wrap_stream(self, behavior: StreamBehavior) -> StreamBehavior:
        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            self._check(request)
            async for message in behavior(request, context):
                yield message

        return stream

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or not is_chat_call(handler_call_details):
            return handler
        return self._wrapped.get(str(handler_call_details.method), handler)
