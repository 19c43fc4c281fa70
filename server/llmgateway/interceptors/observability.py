"""The trace span, metrics and access log of every call: a server span and gRPC server metrics for
all methods, and for chat calls a CallRecord the rest of the call fills in, reported once when the
call ends (inside its span, so the log line carries its trace id)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import grpc
from opentelemetry import trace

from llmgateway.interceptors.handlers import (
    Context,
    Handler,
    StreamBehavior,
    UnaryBehavior,
    WrappingInterceptor,
    is_chat_method,
    rewrap,
)
from llmgateway.observability.call_record import CallRecord, current_call
from llmgateway.observability.logging_setup import ACCESS_LOGGER
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.observability.redaction import Redactor
from llmgateway.observability.server_span import ServerSpan, ServerSpans

_access = logging.getLogger(ACCESS_LOGGER)
_CONTENT_LIMIT = 4000  # characters of prompt or answer kept in a log line
_content_redactor = Redactor()  # every kind, masked


def _code(context: Context, error: BaseException | None) -> grpc.StatusCode:
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        # grpc.aio cancels the call's task both when the caller cancels and when its deadline
        # passes; the caller saw DEADLINE_EXCEEDED in the second case, and so does the record.
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


class ObservabilityInterceptor(WrappingInterceptor):
    """Traces, counts, times and logs calls."""

    def __init__(self, metrics: GatewayMetrics, tracer: trace.Tracer, *, access_log: bool) -> None:
        self._metrics = metrics
        self._spans = ServerSpans(tracer)
        self._access_log = access_log
        super().__init__(self._rewrap)

    def _begin(
        self, method: str, grpc_type: str, chat: bool
    ) -> tuple[CallRecord | None, tuple[str, str, str]]:
        service, _, name = method.lstrip("/").partition("/")
        labels = (grpc_type, service, name)
        self._metrics.grpc_started.labels(*labels).inc()
        if not chat:
            return None, labels
        self._metrics.in_flight.labels(name).inc()
        return CallRecord(method=name, metrics=self._metrics), labels

    def _end(
        self, call: CallRecord | None, labels: tuple[str, str, str], started: float, code: grpc.StatusCode
    ) -> None:
        elapsed = time.perf_counter() - started
        self._metrics.grpc_handled.labels(*labels, code.name).inc()
        self._metrics.grpc_handling.labels(*labels).observe(elapsed)
        if call is None:
            return
        m = self._metrics
        m.in_flight.labels(call.method).dec()
        m.requests.labels(call.method, call.model, call.provider, code.name).inc()
        m.request_duration.labels(call.method, call.model).observe(elapsed)
        m.overhead.labels(call.method).observe(max(elapsed - call.upstream_wait_s, 0.0))
        usage = call.usage
        if call.provider:
            for direction, count in (
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
                ("cached", usage.cached_input_tokens),
                ("reasoning", usage.reasoning_tokens),
            ):
                if count:
                    m.tokens.labels(call.model, call.provider, direction).inc(count)
            if usage.cost_usd:
                m.cost.labels(call.model, call.provider).inc(usage.cost_usd)
        if self._access_log:
            self._log(call, code, elapsed)

    def _finish(
        self,
        span: ServerSpan,
        call: CallRecord | None,
        labels: tuple[str, str, str],
        started: float,
        *,
        context: Context,
        error: BaseException | None,
    ) -> None:
        """Count and log the call, then end its span (last: the log line carries its trace id)."""
        code = _code(context, error)
        try:
            self._end(call, labels, started, code)
        finally:
            span.end(code, context, error)

    @staticmethod
    def _log(call: CallRecord, code: grpc.StatusCode, elapsed: float) -> None:
        span_context = trace.get_current_span().get_span_context()
        ttft = call.ttft_s
        content = {
            name: _content_redactor.redact(text[:_CONTENT_LIMIT]).text
            for name, text in (("prompt", call.prompt), ("completion", call.completion))
            if text is not None
        }
        _access.info(
            "%s %s %s",
            call.method,
            call.model,
            code.name,
            extra={
                "fields": content
                | {
                    "request_id": call.request_id,
                    "trace_id": format(span_context.trace_id, "032x") if span_context.is_valid else "",
                    "method": call.method,
                    "tenant": call.tenant,
                    "requested_model": call.requested_model,
                    "model": call.model,
                    "provider": call.provider,
                    "deployment": call.deployment,
                    "attempts": call.attempts,
                    "fallback_from": call.fallback_from,
                    "code": code.name,
                    "reason": call.reason,
                    "latency_ms": round(elapsed * 1000, 3),
                    "ttft_ms": None if ttft is None else round(ttft * 1000, 3),
                    "upstream_ms": round(call.upstream_wait_s * 1000, 3),
                    "input_tokens": call.usage.input_tokens,
                    "output_tokens": call.usage.output_tokens,
                    "cached_tokens": call.usage.cached_input_tokens,
                    "reasoning_tokens": call.usage.reasoning_tokens,
                    "cost_usd": call.usage.cost_usd,
                    "cache": call.cache,
                }
            },
        )

    def _wrap_unary(self, method: str, chat: bool) -> Any:
        def wrap(behavior: UnaryBehavior) -> UnaryBehavior:
            async def unary(request: Any, context: Context) -> Any:
                started = time.perf_counter()
                span = self._spans.begin(method, context)
                call, labels = self._begin(method, "unary", chat)
                # Each RPC runs in its own task, so the variable needs no reset: it dies with the task.
                current_call.set(call)
                error: BaseException | None = None
                try:
                    return await behavior(request, context)
                except BaseException as raised:
                    error = raised
                    raise
                finally:
                    self._finish(span, call, labels, started, context=context, error=error)

            return unary

        return wrap

    def _wrap_stream(self, method: str, chat: bool, grpc_type: str = "server_stream") -> Any:
        def wrap(behavior: StreamBehavior) -> StreamBehavior:
            async def stream(request: Any, context: Context) -> AsyncGenerator[Any, None]:
                started = time.perf_counter()
                span = self._spans.begin(method, context)
                call, labels = self._begin(method, grpc_type, chat)
                current_call.set(call)
                error: BaseException | None = None
                try:
                    async with aclosing(behavior(request, context)) as messages:
                        async for message in messages:
                            yield message
                except BaseException as raised:
                    error = raised
                    raise
                finally:
                    self._finish(span, call, labels, started, context=context, error=error)

            return stream

        return wrap

    def _rewrap(self, method: str, handler: Handler) -> Handler:
        chat = is_chat_method(method)
        if handler.stream_stream is not None and inspect.isasyncgenfunction(handler.stream_stream):
            # Server reflection (grpcurl) is the gateway's one bidirectional method: traced and
            # counted like the rest. `rewrap` leaves it alone for the interceptors that only mean
            # the chat and health calls.
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(method, chat, "bidi_stream")(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return rewrap(handler, unary=self._wrap_unary(method, chat), stream=self._wrap_stream(method, chat))
