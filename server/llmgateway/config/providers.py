"""Providers: each is a type of wire protocol (its adapter module), a base URL, credentials, timeouts
and health probes."""

from __future__ import annotations

import importlib.util
import re
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from llmgateway.config.common import NAME_PATTERN, Seconds, Strict

ProviderType = Literal[
    "openai", "azure_openai", "anthropic", "gemini", "bedrock", "ollama", "vllm", "together", "echo"
]
# The module under llmgateway.providers that implements each type (a `create` function).
ADAPTER_MODULES: dict[str, str] = {
    "openai": "openai_compat",
    "vllm": "openai_compat",
    "together": "openai_compat",
    "azure_openai": "openai_compat",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "bedrock": "bedrock",
    "ollama": "ollama",
    "echo": "echo",
}


# The path each provider's own SDK (or its documented base URL) puts at the end of the base URL,
# which the adapters add themselves: OpenAI's `https://api.openai.com/v1` (also vLLM's and
# Together's), Azure's GA `https://NAME.openai.azure.com/openai/v1`, Ollama's OpenAI-compatible
# `http://localhost:11434/v1`. A base URL copied from a caller's SDK settings then works as it is
# instead of calling `/v1/v1/chat/completions`. Anthropic's SDK leaves `/v1` out, but its API
# reference shows every path under it, so a base URL written that way is taken too. Gemini's
# version segment is its api_version (see _gemini_version_from_base_url).
SDK_BASE_URL_SUFFIXES: dict[str, tuple[str, ...]] = {
    "openai": ("/v1",),
    "vllm": ("/v1",),
    "together": ("/v1",),
    "azure_openai": ("/openai/v1", "/openai"),
    "anthropic": ("/v1",),
    "ollama": ("/v1", "/api"),
}
_GEMINI_VERSIONS = ("v1beta", "v1alpha", "v1")


def _gemini_version_from_base_url(data: dict[str, Any], url: str) -> dict[str, Any]:
    """`https://generativelanguage.googleapis.com/v1beta` names the API version in the URL, as
    Google's REST reference writes it: it becomes api_version, which must agree if also set."""
    head, _, last = url.rpartition("/")
    if last not in _GEMINI_VERSIONS:
        return data
    configured = data.get("api_version")
    if configured is not None and configured != last:
        raise ValueError(f"base_url names API version {last!r} but api_version is {configured!r}")
    return {**data, "base_url": head, "api_version": last}


def adapter_available(provider_type: str) -> bool:
    """Whether this build has the adapter module for a provider type."""
    return importlib.util.find_spec(f"llmgateway.providers.{ADAPTER_MODULES[provider_type]}") is not None


class ProviderTimeouts(Strict):
    """Upstream timeouts; the caller's deadline bounds all of them."""

    # Opening a connection (TCP and TLS).
    connect_s: Seconds = 5.0
    # From the request to the first byte of content (unary: to the whole answer's start).
    first_token_s: Seconds = 30.0
    # The longest silence inside a stream before it counts as stalled.
    between_tokens_s: Seconds = 30.0
    # One attempt, from start to end.
    total_s: Seconds = 300.0


class HealthCheckSettings(Strict):
    """An active probe of a provider: a cheap request (its model list) every `interval_s`. While
    probes fail, the provider's deployments get no calls (unless no deployment is left)."""

    # Time between probes.
    interval_s: Seconds = 30.0
    # A probe that takes longer fails.
    timeout_s: Seconds = 5.0


class ProviderSettings(Strict):
    """One upstream account: a wire protocol, where it lives and how to authenticate.

    Keys that only some types read: `api_version` (Azure `api-version`, Anthropic
    `anthropic-version`), `bearer_token` (Azure Entra ID token, sent instead of `api-key`),
    `region` and the `aws_*` credentials (Bedrock; without them botocore's standard credential
    chain is used: environment, shared config and credentials files, container and instance roles).
    """

    # The name deployments refer to (letters, digits, ._:/-).
    name: str = Field(pattern=NAME_PATTERN)
    # The wire protocol, which picks the adapter.
    type: ProviderType
    # Every type takes a base URL override (for Bedrock: the endpoint URL).
    base_url: str | None = None
    # The provider's API key (Azure: the `api-key` header); use ${ENV} rather than the value.
    api_key: SecretStr | None = None
    # Azure: an Entra ID token, sent instead of api_key.
    bearer_token: SecretStr | None = None
    # Azure's `api-version` query parameter, Anthropic's `anthropic-version` header, Gemini's API
    # version (v1beta).
    api_version: str | None = None
    # Bedrock: the AWS region (else the credential chain's).
    region: str | None = None
    # Bedrock: static credentials (with aws_secret_access_key); else botocore's chain.
    aws_access_key_id: SecretStr | None = None
    # Bedrock: the secret of aws_access_key_id.
    aws_secret_access_key: SecretStr | None = None
    # Bedrock: the session token of temporary credentials.
    aws_session_token: SecretStr | None = None
    # Bedrock: a profile of the shared AWS config and credentials files.
    aws_profile: str | None = None
    # Extra headers sent upstream, e.g. OpenAI-Organization / OpenAI-Project.
    headers: dict[str, str] = Field(default_factory=dict)
    # Connect, first-token, between-token and total timeouts of each attempt.
    timeouts: ProviderTimeouts = ProviderTimeouts()
    # Connections pooled to this provider (per worker process).
    max_connections: int = Field(default=100, gt=0)
    # An idle pooled connection is closed after this.
    keepalive_expiry_s: Seconds = 60.0
    # HTTP/2 to this provider: offered by ALPN on https (HTTP/1.1 if the provider declines), prior
    # knowledge on http. Off by default: HTTP/1.1 through aiohttp costs less CPU per call
    # (bench/RESULTS.md); HTTP/2 saves connections and handshakes to a distant provider.
    http2: bool = False
    # Caps on what the gateway buffers from this provider, so a buggy or hostile upstream (or a
    # base_url pointing at something that streams forever) cannot exhaust its memory. Over a cap,
    # the attempt fails with UNAVAILABLE UPSTREAM_RESPONSE_TOO_LARGE and the connection is closed.
    # A whole unary body (and a model list, an error body): the largest real answers are a model's
    # full output budget (128k tokens ≈ 0.5 MiB of text, a few MiB as JSON with tool calls and
    # reasoning) or a big model list (well under 1 MiB), so 16 MiB leaves several times the room
    # while keeping a pool of 100 connections under two GiB at worst. Not above the server's
    # max_send_message_bytes (16 MiB), or an answer that passed this cap could still not be sent
    # back to the caller (a RESOURCE_EXHAUSTED without details).
    max_response_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # One stream event being assembled (an SSE event, an NDJSON line, an event-stream frame); a
    # stream's total length is bounded by deadlines, not by this. Events normally carry a few tokens;
    # the largest are tool calls that arrive whole (Ollama, Gemini), at most the output budget, about
    # 1 MiB as JSON. 4 MiB is four times that, and far below botocore's own 24 MiB frame limit.
    max_stream_event_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    # OpenAI-compatible servers differ in the name of the output-token cap.
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] | None = None
    # Active health probes (off by default); passive health from real traffic is always on.
    health_check: HealthCheckSettings | None = None
    # Send W3C trace context upstream: for self-hosted servers (vLLM, Ollama) whose traces should
    # join ours; never on by default, so third-party providers see no internal trace ids.
    propagate_trace_context: bool = False

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("base_url must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="before")
    @classmethod
    def _base_url_without_sdk_suffix(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("base_url"), str):
            return data
        url = data["base_url"].rstrip("/")
        if not re.match(r"^https?://[^/]+/", url):
            return data  # no path to strip (or not a URL, which the field's validator reports)
        if data.get("type") == "gemini":
            return _gemini_version_from_base_url(data, url)
        for suffix in SDK_BASE_URL_SUFFIXES.get(str(data.get("type")), ()):
            if url.endswith(suffix):
                return {**data, "base_url": url.removesuffix(suffix)}
        return data

    @model_validator(mode="after")
    def _implemented(self) -> ProviderSettings:
        if not adapter_available(self.type):
            available = sorted(t for t in ADAPTER_MODULES if adapter_available(t))
            raise ValueError(
                f"provider type {self.type!r} has no adapter in this build (available: {', '.join(available)})"
            )
        return self

    @model_validator(mode="after")
    def _azure_needs_endpoint_and_credentials(self) -> ProviderSettings:
        if self.type == "azure_openai":
            if not self.base_url:
                raise ValueError(
                    "azure_openai needs base_url: the resource endpoint, e.g. https://NAME.openai.azure.com"
                )
            if self.api_key is None and self.bearer_token is None:
                raise ValueError("azure_openai needs api_key or bearer_token")
        return self

    def secrets(self) -> list[str]:
        """Every secret value of this provider, for scrubbing upstream text."""
        values = [self.api_key, self.bearer_token, self.aws_secret_access_key, self.aws_session_token]
        return [
            value.get_secret_value() for value in values if value is not None and value.get_secret_value()
        ]
