"""Wrapping the behaviour of gRPC method handlers: what every server interceptor here does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, cast

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
# A string: grpc's RpcMethodHandler is generic only in its type stubs, not at run time.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
UnaryBehavior = Callable[[Any, Context], Awaitable[Any]]
StreamBehavior = Callable[[Any, Context], AsyncIterator[Any]]
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"

CHAT_SERVICE_PREFIX = "/llmgateway.v1.ChatService/"


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


def is_chat_call(details: grpc.HandlerCallDetails) -> bool:
    """Chat and ChatStream: the calls that go upstream (health, reflection, ListModels do not)."""
    return str(details.method).startswith(CHAT_SERVICE_PREFIX)
