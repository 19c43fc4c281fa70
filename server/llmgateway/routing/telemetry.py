"""What routing tells the trace, the metrics and the call's record (observability/call_record.py):
a client span per upstream attempt, events on the call's span, the attempt and fallback counts."""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.util.types import Attributes

from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import CallRecord
from llmgateway.observability.tracing import GEN_AI_SYSTEMS, finish_reason_name
from llmgateway.routing.upstream import Upstream
from llmgateway.v1 import chat_pb2, embeddings_pb2


class AttemptSpan:
    """The client span of one upstream attempt, with the GenAI semantic-convention attributes."""

    def __init__(self, span: Span) -> None:
        self._span = span

    @classmethod
    def start(
        cls,
        tracer: trace.Tracer,
        upstream: Upstream,
        upstream_model: str,
        attempt: int,
        operation: str = "chat",
    ) -> AttemptSpan:
        call_span = trace.get_current_span()
        context = call_span.get_span_context()
        if context.is_valid and not context.trace_flags.sampled and not call_span.is_recording():
            # An unsampled call: our samplers (parent-based, or by trace id) drop its children as
            # well, so the call's own span stands in for the attempt's rather than a new one made,
            # with its attributes, only to be dropped. Upstreams still get the call's trace id.
            return cls(call_span)
        provider_type = upstream.deployment.provider_settings.type
        return cls(
            tracer.start_span(
                f"{operation} {upstream_model}",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": operation,
                    "gen_ai.system": GEN_AI_SYSTEMS.get(provider_type, provider_type),
                    "gen_ai.request.model": upstream_model,
                    "llmgateway.provider": upstream.provider_name,
                    "llmgateway.deployment": upstream.id,
                    "llmgateway.attempt": attempt,
                },
            )
        )

    def active(self) -> AbstractContextManager[Span]:
        """The span as the current one (the adapter's HTTP spans are its children); not ended."""
        return trace.use_span(self._span, end_on_exit=False)

    def answered(self, response: chat_pb2.ChatResponse) -> None:
        self._span.set_attribute("gen_ai.response.model", response.model)
        self._span.set_attribute(
            "gen_ai.response.finish_reasons", [finish_reason_name(response.finish_reason)]
        )
        self._span.set_attribute("gen_ai.usage.input_tokens", response.usage.input_tokens)
        self._span.set_attribute("gen_ai.usage.output_tokens", response.usage.output_tokens)

    def embedded(self, response: embeddings_pb2.EmbedResponse) -> None:
        self._span.set_attribute("gen_ai.response.model", response.model)
        self._span.set_attribute("gen_ai.usage.input_tokens", response.usage.input_tokens)
        if response.embeddings:
            first = response.embeddings[0]
            dimensions = len(first.values) or len(first.packed_float32) // 4
            self._span.set_attribute("gen_ai.embeddings.dimension.count", dimensions)

    def first_token(self) -> None:
        self._span.add_event("first_token")

    def streamed(self, item: chat_pb2.ChatStreamResponse) -> None:
        """Response attributes, as a stream reveals them."""
        if item.model:
            self._span.set_attribute("gen_ai.response.model", item.model)
        if item.finish_reason:
            self._span.set_attribute(
                "gen_ai.response.finish_reasons", [finish_reason_name(item.finish_reason)]
            )
        if item.HasField("usage"):
            if item.usage.input_tokens:
                self._span.set_attribute("gen_ai.usage.input_tokens", item.usage.input_tokens)
            if item.usage.output_tokens:
                self._span.set_attribute("gen_ai.usage.output_tokens", item.usage.output_tokens)

    def failed(self, error: GatewayError) -> None:
        self._span.set_status(StatusCode.ERROR, error.reason)
        self._span.set_attribute("error.type", error.reason)

    def end(self) -> None:
        self._span.end()


def call_event(name: str, attributes: Attributes) -> None:
    """An event on the call's own span: a retry, a fallback, a deployment skipped."""
    trace.get_current_span().add_event(name, attributes)


def attempt_started(
    observed: CallRecord | None, upstream: Upstream, requested: str, prompt_tokens: int
) -> None:
    """The call's record names the deployment it is trying, and what a cut call is charged there."""
    if observed is None:
        return
    observed.attempts += 1
    observed.provider, observed.deployment = upstream.provider_name, upstream.id
    observed.price = functools.partial(upstream.deployment.cost, requested)
    observed.prompt_tokens = prompt_tokens


def count_attempt(observed: CallRecord | None, upstream: Upstream, outcome: str) -> None:
    """One attempt in the metrics, with the breaker state it left, when the call is observed."""
    if observed is None:
        return
    metrics = observed.metrics
    metrics.upstream_attempts.labels(upstream.provider_name, upstream.id, outcome).inc()
    metrics.breaker_state.labels(upstream.id).set(int(upstream.breaker_state))


def served_by(observed: CallRecord | None, requested: str, model: str) -> None:
    """The configured model that served the call; a fallback when it is not the requested one."""
    if observed is None:
        return
    observed.model = model
    if model != requested:
        observed.fallback_from = requested
        observed.metrics.fallbacks.labels(requested, model).inc()
