"""What routing tells the trace, the metrics and the call's record (observability/call_record.py):
a client span per upstream attempt, events on the call's span, the attempt and fallback counts."""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.util.types import Attributes, AttributeValue

from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import CallRecord
from llmgateway.observability.tracing import GEN_AI_PROVIDER_NAMES, finish_reason_name
from llmgateway.routing.kinds import RoutedRequest
from llmgateway.routing.upstream import Upstream
from llmgateway.v1 import chat_pb2, embeddings_pb2

# The attribute names come from the semantic-conventions package, not our own spelling of them.
# gen_ai.system is deprecated in favour of gen_ai.provider.name; both are sent while backends move.
_GEN_AI_SYSTEM = "gen_ai.system"


def request_attributes(request: RoutedRequest) -> dict[str, AttributeValue]:
    """The request parameters the GenAI conventions name, where the caller set them."""
    attributes: dict[str, AttributeValue] = {}
    if isinstance(request, embeddings_pb2.EmbedRequest):
        if request.encoding == embeddings_pb2.EMBEDDING_ENCODING_PACKED_FLOAT32:
            attributes[gen_ai.GEN_AI_REQUEST_ENCODING_FORMATS] = ["base64"]
        return attributes
    config = request.generation_config
    if config.HasField("temperature"):
        attributes[gen_ai.GEN_AI_REQUEST_TEMPERATURE] = config.temperature
    if config.HasField("top_p"):
        attributes[gen_ai.GEN_AI_REQUEST_TOP_P] = config.top_p
    if config.HasField("top_k"):
        attributes[gen_ai.GEN_AI_REQUEST_TOP_K] = config.top_k
    if config.HasField("max_output_tokens"):
        attributes[gen_ai.GEN_AI_REQUEST_MAX_TOKENS] = config.max_output_tokens
    if config.HasField("seed"):
        attributes[gen_ai.GEN_AI_REQUEST_SEED] = config.seed
    if config.HasField("presence_penalty"):
        attributes[gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY] = config.presence_penalty
    if config.HasField("frequency_penalty"):
        attributes[gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY] = config.frequency_penalty
    if config.stop_sequences:
        attributes[gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES] = list(config.stop_sequences)
    return attributes


def usage_attributes(usage: chat_pb2.Usage) -> dict[str, AttributeValue]:
    """Token counts as the conventions name them; zero counts are left out (not reported)."""
    counts = {
        gen_ai.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
        gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
        gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cached_input_tokens,
        gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_write_input_tokens,
        gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage.reasoning_tokens,
    }
    return {name: count for name, count in counts.items() if count}


class AttemptSpan:
    """The client span of one upstream attempt, with the GenAI semantic-convention attributes."""

    def __init__(self, span: Span, response_id: str = "") -> None:
        self._span = span
        # The gateway's id of the answer (the call's request id): adapters leave the v1 response's
        # id to the core, which sets it after the attempt.
        self._response_id = response_id
        # Asked once: `streamed` runs for every token, and most calls are not sampled.
        self._recording = span.is_recording()
        self._named = False  # the response's id and model are set (from the first message naming them)

    @classmethod
    def start(
        cls,
        tracer: trace.Tracer,
        upstream: Upstream,
        upstream_model: str,
        attempt: int,
        *,
        request: RoutedRequest,
        request_id: str,
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
        provider_name = GEN_AI_PROVIDER_NAMES.get(provider_type, provider_type)
        attributes: dict[str, AttributeValue] = {
            gen_ai.GEN_AI_OPERATION_NAME: operation,
            gen_ai.GEN_AI_PROVIDER_NAME: provider_name,
            _GEN_AI_SYSTEM: provider_name,
            gen_ai.GEN_AI_REQUEST_MODEL: upstream_model,
            **request_attributes(request),
            "llmgateway.provider": upstream.provider_name,
            "llmgateway.deployment": upstream.id,
            "llmgateway.attempt": attempt,
        }
        endpoint = upstream.deployment.provider.endpoint
        if endpoint is not None:
            attributes[server_attributes.SERVER_ADDRESS], attributes[server_attributes.SERVER_PORT] = endpoint
        span = tracer.start_span(f"{operation} {upstream_model}", kind=SpanKind.CLIENT, attributes=attributes)
        return cls(span, request_id)

    def active(self) -> AbstractContextManager[Span]:
        """The span as the current one (the adapter's HTTP spans are its children); not ended."""
        return trace.use_span(self._span, end_on_exit=False)

    def answered(self, response: chat_pb2.ChatResponse) -> None:
        self._span.set_attributes(
            {
                gen_ai.GEN_AI_RESPONSE_ID: response.id or self._response_id,
                gen_ai.GEN_AI_RESPONSE_MODEL: response.model,
                gen_ai.GEN_AI_RESPONSE_FINISH_REASONS: [finish_reason_name(response.finish_reason)],
                **usage_attributes(response.usage),
            }
        )

    def embedded(self, response: embeddings_pb2.EmbedResponse) -> None:
        self._span.set_attributes(
            {
                gen_ai.GEN_AI_RESPONSE_ID: response.id or self._response_id,
                gen_ai.GEN_AI_RESPONSE_MODEL: response.model,
                **usage_attributes(response.usage),
            }
        )
        if response.embeddings:
            first = response.embeddings[0]
            dimensions = len(first.values) or len(first.packed_float32) // 4
            self._span.set_attribute(gen_ai.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, dimensions)

    def first_token(self) -> None:
        self._span.add_event("first_token")

    def streamed(self, item: chat_pb2.ChatStreamResponse) -> None:
        """Response attributes, as a stream reveals them. It runs for every token: nothing to do for
        a span that records nothing, and the id and model are set once, from the first message that
        names the model (OpenAI-style streams name it on every chunk)."""
        if not self._recording:
            return
        if item.model and not self._named:
            self._named = True
            self._span.set_attribute(gen_ai.GEN_AI_RESPONSE_ID, item.id or self._response_id)
            self._span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, item.model)
        if item.finish_reason:
            self._span.set_attribute(
                gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, [finish_reason_name(item.finish_reason)]
            )
        if item.HasField("usage"):
            self._span.set_attributes(usage_attributes(item.usage))

    def failed(self, error: GatewayError) -> None:
        self._span.set_status(StatusCode.ERROR, error.reason)
        self._span.set_attribute(error_attributes.ERROR_TYPE, error.reason)

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
