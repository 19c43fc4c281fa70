"""OpenTelemetry tracing: a tracer provider from the config, and the GenAI attributes of upstream
attempt spans (OpenTelemetry's GenAI semantic conventions)."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GenAiProviderNameValues

from llmgateway.config import TracingSettings
from llmgateway.v1 import chat_pb2

# gen_ai.provider.name (and the deprecated gen_ai.system, sent beside it while the conventions
# retire it) by provider type: the conventions' own values where they list the provider, else the
# lower-case name they ask for.
GEN_AI_PROVIDER_NAMES: dict[str, str] = {
    "openai": GenAiProviderNameValues.OPENAI.value,
    "azure_openai": GenAiProviderNameValues.AZURE_AI_OPENAI.value,
    "anthropic": GenAiProviderNameValues.ANTHROPIC.value,
    "gemini": GenAiProviderNameValues.GCP_GEMINI.value,
    "bedrock": GenAiProviderNameValues.AWS_BEDROCK.value,
    "ollama": "ollama",
    "vllm": "vllm",
    "together": "together_ai",
    "echo": "llmgateway.echo",
}
_FINISH_REASONS = {
    chat_pb2.FINISH_REASON_STOP: "stop",
    chat_pb2.FINISH_REASON_LENGTH: "length",
    chat_pb2.FINISH_REASON_TOOL_CALLS: "tool_calls",
    chat_pb2.FINISH_REASON_CONTENT_FILTER: "content_filter",
    chat_pb2.FINISH_REASON_OTHER: "other",
    chat_pb2.FINISH_REASON_REFUSAL: "refusal",
}


def finish_reason_name(reason: chat_pb2.FinishReason.ValueType) -> str:
    return _FINISH_REASONS.get(reason, "")


def build_tracer_provider(settings: TracingSettings) -> TracerProvider:
    """A provider sampling `sample_ratio` of new traces (and following the caller's decision for
    traces it continues). Without an OTLP endpoint nothing is exported: spans only give the access
    log its trace ids."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
    )
    if settings.otlp_endpoint:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return provider
