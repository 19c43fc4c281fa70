"""The trace span and gRPC server metrics of every gRPC call. A chat call's own metrics and access
log are the core's (core/report.py), written inside this span so the log line carries its trace id."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import grpc
from opentelemetry import trace

from llmgateway.core.deadlines import cancellation_code
from llmgateway.frontends.grpc.handlers import (
    Context,
    Handler,
    StreamBehavior,
    UnaryBehavior,
    WrappingInterceptor,
    rewrap,
)
from llmgateway.frontends.grpc.server_span import ServerSpan, ServerSpans
from llmgateway.observability.metrics import GatewayMetrics


def _code(context: Context, error: BaseException | None) -> grpc.StatusCode:
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return cancellation_code(context.time_remaining())
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


# Services whose calls are counted but, unless asked for, not traced: probes and tools, not traffic.
UNTRACED_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ObservabilityInterceptor(WrappingInterceptor):
    """Traces, counts and times gRPC calls."""

    def __init__(
        self, metrics: GatewayMetrics, tracer: trace.Tracer, *, trace_health_and_reflection: bool = False
    ) -> None:
        self._metrics = metrics
        self._spans = ServerSpans(tracer)
        self._untraced = ServerSpans(trace.NoOpTracer())
        self._trace_everything = trace_health_and_reflection
        super().__init__(self._rewrap)

    def _spans_for(self, method: str) -> ServerSpans:
        if self._trace_everything or not method.startswith(UNTRACED_SERVICES):
            return self._spans
        return self._untraced

    def _begin(self, method: str, grpc_type: str) -> tuple[str, str, str]:
        service, _, name = method.lstrip("/").partition("/")
        labels = (grpc_type, service, name)
        self._metrics.grpc_started.labels(*labels).inc()
        return labels

    def _finish(
        self,
        span: ServerSpan,
        labels: tuple[str, str, str],
        started: float,
        *,
        context: Context,
        error: BaseException | None,
    ) -> None:
        """Count the call, then end its span."""
        code = _code(context, error)
        try:
            self._metrics.grpc_handled.labels(*labels, code.name).inc()
            self._metrics.grpc_handling.labels(*labels).observe(time.perf_counter() - started)
        finally:
            span.end(code, context, error)

    def _wrap_unary(self, method: str) -> Any:
        spans = self._spans_for(method)

        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            async def unary(request: Any, context: Context) -> Any:
                started = time.perf_counter()
                span = spans.begin(method, context)
                labels = self._begin(method, "unary")
                error: BaseException | None = None
                try:
                    return await behavior(request, context)
                except BaseException as raised:
                    error = raised
                    raise
                finally:
                    self._finish(span, labels, started, context=context, error=error)

            return unary

        return wrap

    def _wrap_stream(self, method: str, grpc_type: str = "server_stream") -> Any:
        spans = self._spans_for(method)

        def wrap(behavior: StreamBehavior) -> StreamBehavior:
            async def stream(request: Any, context: Context) -> AsyncGenerator[Any, None]:
                started = time.perf_counter()
                span = spans.begin(method, context)
                labels = self._begin(method, grpc_type)
                error: BaseException | None = None
                try:
                    async with aclosing(behavior(request, context)) as messages:
                        async for message in messages:
                            yield message
                except BaseException as raised:
                    error = raised
                    raise
                finally:
                    self._finish(span, labels, started, context=context, error=error)

            return stream

        return wrap

    def _rewrap(self, method: str, handler: Handler) -> Handler:
        if handler.stream_stream is not None and inspect.isasyncgenfunction(handler.stream_stream):
            # Server reflection (grpcurl) is the gateway's one bidirectional method: counted like
            # the rest (and traced when asked). `rewrap` leaves it alone for the interceptors that only mean
            # the chat and health calls.
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(method, "bidi_stream")(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return rewrap(handler, unary=self._wrap_unary(method), stream=self._wrap_stream(method))
