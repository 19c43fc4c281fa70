"""Server-streaming handlers that close their generators in the call's own task.

grpc.aio drives an async-generator handler with its own `async for` and a write per message. When
the caller goes away while grpc is inside such a write, the task is cancelled there, outside the
generator, and grpc drops the generator half-way. Python finalises it later from the event loop's
async-generator hook: in another task and another contextvars Context. Every `with` block still open
in the handler chain then exits there — OpenTelemetry's span cannot detach its context ("Failed to
detach context", an ERROR line per cancelled stream) and the call's end is recorded late.

This interceptor, outermost, hands grpc a coroutine instead, which writes each message itself and
closes the chain's generator in a `finally`, in the same task and Context, however the call ends.

A write can also fail inside gRPC core because the caller is already gone (cancelled, deadline,
connection lost) while grpc.aio has not yet noticed: grpc then logs the ExecuteBatchError it raises
at ERROR with a traceback ("ExecuteBatchError raised in core by servicer method"). It is the same
expected event as a cancellation, so the write loop ends the call as cancelled, which grpc logs at
DEBUG.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

import grpc
from grpc._cython.cygrpc import ExecuteBatchError  # raised by grpc.aio's writes; not re-exported

from llmgateway.frontends.grpc.handlers import Context, Continuation, Handler, StreamBehavior

WriteLoop = Callable[[Any, Context], Awaitable[None]]


def _write_loop(behavior: StreamBehavior) -> WriteLoop:
    async def stream(request: Any, context: Context) -> None:
        async with aclosing(behavior(request, context)) as messages:
            async for message in messages:
                try:
                    await context.write(message)
                except ExecuteBatchError:
                    raise asyncio.CancelledError from None  # the caller is gone (see above)

    return stream


def _closing(handler: Handler) -> Handler:
    if handler.unary_stream is None:
        return handler
    return grpc.unary_stream_rpc_method_handler(
        _write_loop(handler.unary_stream),  # type: ignore[arg-type]
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class StreamClosingInterceptor(grpc.aio.ServerInterceptor):
    """Must be the first (outermost) interceptor: it closes what every inner one opened. Unlike the
    others it wraps per call, not once per method (WrappedHandlers): the handler inside it is
    OpenTelemetry's, made anew for every call."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        return None if handler is None else _closing(handler)
