"""Wrapping the behaviour of gRPC method handlers: what every server interceptor here does."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeAlias, cast

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
# A string: grpc's RpcMethodHandler is generic only in its type stubs, not at run time.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
UnaryBehavior = Callable[[Any, Context], Awaitable[Any]]
# Every layer of a stream is an async generator and closes the one inside it (contextlib.aclosing)
# when it ends, however it ends: an inner generator left to the garbage collector would run its
# `finally` (usage, settlement) after the outer ones had already settled and logged the call.
StreamBehavior = Callable[[Any, Context], AsyncGenerator[Any, None]]
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"


def rewrap(
    handler: Handler,
    *,
    unary: Callable[[UnaryBehavior], UnaryBehavior],
    stream: Callable[[StreamBehavior], StreamBehavior],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """The handler with its unary-unary or unary-stream behaviour wrapped (others unchanged)."""
    deserializer = request_deserializer or handler.request_deserializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(cast(UnaryBehavior, handler.unary_unary)),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            stream(cast(StreamBehavior, handler.unary_stream)),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


class WrappedHandlers:
    """Each method's wrapped handler, made once. A wrapping depends only on the method and the
    handler inside it (which grpc looks up from a fixed table, and which inner interceptors return
    from their own caches), so making it again for every call — closures and an RpcMethodHandler per
    interceptor per call — was churn on the hot path. Keys are registered methods only: `wrap` is
    called for handlers that exist."""

    def __init__(self, wrap: Callable[[str, Handler], Handler]) -> None:
        self._wrap = wrap
        self._made: dict[str, tuple[Handler, Handler]] = {}

    def get(self, method: str, inner: Handler) -> Handler:
        made = self._made.get(method)
        if made is None or made[0] is not inner:
            made = (inner, self._wrap(method, inner))
            self._made[method] = made
        return made[1]


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    """An interceptor that wraps the handler of every method it sees, once per method: `wrap(method,
    handler)` makes the wrapped handler (see WrappedHandlers)."""

    def __init__(self, wrap: Callable[[str, Handler], Handler]) -> None:
        self._wrapped = WrappedHandlers(wrap)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return self._wrapped.get(str(handler_call_details.method), handler)
