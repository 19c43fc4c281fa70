"""Typed gateway configuration: one YAML file, `${ENV}` interpolation, validated at load.

Unknown keys are errors (a typo must not silently fall back to a default), and every error names
the field by its path, e.g. `providers[0].type`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from llmgateway.redaction.kinds import Kind

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


def adapter_available(provider_type: str) -> bool:
    """Whether this build has the adapter module for a provider type."""
    return importlib.util.find_spec(f"llmgateway.providers.{ADAPTER_MODULES[provider_type]}") is not None


Seconds = Annotated[float, Field(gt=0)]
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSSettings(_Strict):
    """Server TLS; with `client_ca_file` the server also verifies client certificates (mTLS)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    require_client_cert: bool = False

    @model_validator(mode="after")
    def _mtls_needs_ca(self) -> TLSSettings:
        if self.require_client_cert and self.client_ca_file is None:
            raise ValueError("require_client_cert needs client_ca_file")
        return self


class KeepaliveSettings(_Strict):
    """HTTP/2 keepalive: how the server pings idle clients and which client pings it accepts."""

    time_s: Seconds = 60.0
    timeout_s: Seconds = 20.0
    # Clients may ping this often even without calls in flight; faster pings earn a GOAWAY.
    min_client_ping_interval_s: Seconds = 10.0
    permit_without_calls: bool = True


class ServerSettings(_Strict):
    """The gRPC and HTTP listeners and their connection management."""

    listen: str = "0.0.0.0:50051"
    # The HTTP front doors (OpenAI- and Anthropic-compatible APIs); None: no HTTP listener.
    http_listen: str | None = "0.0.0.0:8080"
    metrics_listen: str | None = "0.0.0.0:9464"
    tls: TLSSettings | None = None
    keepalive: KeepaliveSettings = KeepaliveSettings()
    # Connections are recycled so load balancers can rebalance; the grace lets long streams finish.
    max_connection_age_s: Seconds = 1800.0
    max_connection_age_grace_s: Seconds = 300.0
    max_connection_idle_s: Seconds = 900.0
    # At most this many client connections per worker process (more are closed as they arrive),
    # and a connection that has not finished its handshake (TLS, HTTP/2 preface and settings)
    # within handshake_timeout_s is closed: idle or silent sockets cannot pile up.
    max_connections: int = Field(default=10_000, gt=0)
    handshake_timeout_s: Seconds = 10.0
    max_send_message_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    # SIGTERM: readiness NOT_SERVING, wait drain_s for load balancers to notice, then stop with grace_s.
    drain_s: float = Field(default=5.0, ge=0)
    grace_s: float = Field(default=30.0, ge=0)
    # How often readiness is re-evaluated from breakers and health probes.
    readiness_interval_s: Seconds = 1.0
    # Worker processes on the listen port; None: one per available core (see worker_count.py).
    workers: int | None = Field(default=None, ge=1)
    # CPython's collector thresholds (generation 0, 1, 2); the stdlib default is (700, 10, 10).
    # Larger ones make collections rarer: see gc_tuning.py.
    gc_thresholds: tuple[int, int, int] = (10_000, 50, 100)
    # uvloop costs less CPU per call than the stdlib loop (bench/RESULTS.md); asyncio for debugging.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    @field_validator("listen", "http_listen", "metrics_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_host_port(value)
        return value


class ProviderTimeouts(_Strict):
    """Upstream timeouts; the caller's deadline bounds all of them."""

    connect_s: Seconds = 5.0
    first_token_s: Seconds = 30.0
    between_tokens_s: Seconds = 30.0
    total_s: Seconds = 300.0


class HealthCheckSettings(_Strict):
    """An active probe of a provider: a cheap request (its model list) every `interval_s`. While
    probes fail, the provider's deployments get no calls (unless no deployment is left)."""

    interval_s: Seconds = 30.0
    timeout_s: Seconds = 5.0


class ProviderSettings(_Strict):
    """One upstream account: a wire protocol, where it lives and how to authenticate.

    Keys that only some types read: `api_version` (Azure `api-version`, Anthropic
    `anthropic-version`), `bearer_token` (Azure Entra ID token, sent instead of `api-key`),
    `region` and the `aws_*` credentials (Bedrock; without them botocore's standard credential
    chain is used: environment, shared config and credentials files, container and instance roles).
    """

    name: str = Field(pattern=_NAME_PATTERN)
    type: ProviderType
    # Every type takes a base URL override (for Bedrock: the endpoint URL).
    base_url: str | None = None
    api_key: SecretStr | None = None
    bearer_token: SecretStr | None = None
    api_version: str | None = None
    region: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    aws_profile: str | None = None
    # Extra headers sent upstream, e.g. OpenAI-Organization / OpenAI-Project.
    headers: dict[str, str] = Field(default_factory=dict)
    timeouts: ProviderTimeouts = ProviderTimeouts()
    max_connections: int = Field(default=100, gt=0)
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


class CapabilitySettings(_Strict):
    """What a deployment can serve; the capability filter keeps requests off deployments that can't."""

    tools: bool = True
    images: bool = True
    json_schema: bool = True
    # Prompt plus output tokens; None means unknown (never filtered on).
    context_window: int | None = Field(default=None, gt=0)


class DeploymentLimits(_Strict):
    """Per-deployment limits: the bulkhead (calls in flight, and how long to wait for a slot), and
    the provider's own rate limits, so calls are shed before the provider answers 429."""

    max_in_flight: int = Field(default=100, gt=0)
    max_wait_s: float = Field(default=5.0, ge=0)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class DeploymentSettings(_Strict):
    """A model served by a provider: the provider's name and the model name it expects.

    In a glob model (`name: "claude-*"`), `{model}` in `model` is replaced by the name the caller
    asked for."""

    provider: str
    model: str = Field(min_length=1)
    # An id for metrics, logs and response metadata; default "<provider>/<model>".
    name: str | None = None
    weight: float = Field(default=1.0, gt=0)
    # USD per million tokens. Unset: the built-in list price of a well-known model (routing/pricing.py);
    # 0 is a real price (a self-hosted model that costs nothing per call).
    input_price_per_mtok: float | None = Field(default=None, ge=0)
    output_price_per_mtok: float | None = Field(default=None, ge=0)
    capabilities: CapabilitySettings = CapabilitySettings()
    limits: DeploymentLimits = DeploymentLimits()

    @property
    def id(self) -> str:
        return self.name or f"{self.provider}/{self.model}"


Strategy = Literal["weighted", "round_robin", "least_in_flight", "latency", "cost"]
ErrorClass = Literal["unavailable", "rate_limited", "timeout", "context_length_exceeded", "content_filtered"]
_GLOB_CHARS = frozenset("*?[")
DEFAULT_FALLBACK_ON: tuple[ErrorClass, ...] = (
    "unavailable",
    "rate_limited",
    "timeout",
    "context_length_exceeded",
)


class ModelSettings(_Strict):
    """A model name callers ask for (or a glob such as `claude-*`), and the deployments that serve it."""

    name: str = Field(pattern=r"^[A-Za-z0-9*?\[\]][A-Za-z0-9._:/*?\[\]-]{0,127}$")
    aliases: list[str] = Field(default_factory=list)
    deployments: list[DeploymentSettings] = Field(min_length=1)
    strategy: Strategy = "weighted"
    # Other models tried, in order, when every deployment of this one failed with an error of a
    # class in `fallback_on`.
    fallbacks: list[str] = Field(default_factory=list)
    fallback_on: list[ErrorClass] = Field(default_factory=lambda: list(DEFAULT_FALLBACK_ON))

    @property
    def is_glob(self) -> bool:
        return any(char in _GLOB_CHARS for char in self.name)


class RetrySettings(_Strict):
    """Retries per deployment: exponential backoff with full jitter, Retry-After honoured, and a
    budget so retries add at most `budget_ratio` extra load (plus `min_retries_per_s`)."""

    max_retries: int = Field(default=2, ge=0)
    base_delay_s: float = Field(default=0.1, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_delay_s: float = Field(default=10.0, ge=0)
    budget_ratio: float = Field(default=0.2, ge=0)
    min_retries_per_s: float = Field(default=3.0, ge=0)
    budget_window_s: Seconds = 10.0


class BreakerSettings(_Strict):
    """Circuit breaker per deployment."""

    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=10, gt=0)
    window_s: Seconds = 30.0
    consecutive_failures: int = Field(default=5, gt=0)
    open_s: Seconds = 30.0
    half_open_probes: int = Field(default=3, gt=0)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class TimeWindow(_Strict):
    """A time of day range (it may wrap past midnight), on some weekdays, in a time zone."""

    start: str = Field(pattern=_CLOCK_TIME)
    end: str = Field(pattern=_CLOCK_TIME)
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class RuleMatch(_Strict):
    """Conditions of a rule; all given ones must hold. Strings are globs."""

    model: str | None = None
    tenant: str | None = None
    key: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    time: TimeWindow | None = None


class RuleAction(_Strict):
    """What a matching rule does: reject, or route to a model or a deployment list, optionally
    with another strategy."""

    reject: str | None = None
    model: str | None = None
    deployments: list[str] = Field(default_factory=list)
    strategy: Strategy | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RuleAction:
        if self.reject is not None and (self.model or self.deployments or self.strategy):
            raise ValueError("a rule that rejects cannot also route")
        if self.model and self.deployments:
            raise ValueError("route to a model or to deployments, not both")
        if self.reject is None and not (self.model or self.deployments or self.strategy):
            raise ValueError("an action needs reject, model, deployments or strategy")
        return self


class RuleSettings(_Strict):
    """One routing rule; rules are tried in order and the first that matches applies."""

    name: str = Field(min_length=1)
    match: RuleMatch = RuleMatch()
    action: RuleAction


class RoutingSettings(_Strict):
    """How calls are spread, retried, failed over and shed."""

    rules: list[RuleSettings] = Field(default_factory=list)

    # A call without a caller deadline is bounded by this (with one, by the deadline).
    max_call_s: Seconds = 300.0
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    # Load shedding: calls beyond this many in flight get UNAVAILABLE with RetryInfo at once.
    max_concurrent_calls: int = Field(default=1000, gt=0)
    # EWMA smoothing for the latency strategy (weight of the newest sample).
    latency_ewma_alpha: float = Field(default=0.3, gt=0, le=1)


class LimitsSettings(_Strict):
    """Limits on what one request may carry."""

    max_request_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_messages: int = Field(default=1000, gt=0)


class MediaSettings(_Strict):
    """Fetching media URIs to inline them, for providers that only take bytes. Off by default: a
    caller must not be able to steer the gateway to arbitrary URLs. When on: https only, hosts that
    resolve to private, loopback, link-local or other special addresses refused (each redirect is
    checked again), and size and time capped."""

    fetch_uris: bool = False
    max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    timeout_s: Seconds = 10.0
    max_redirects: int = Field(default=3, ge=0)
    # For tests against a local https server only; never enable in production.
    allow_private_addresses: bool = False
    ca_file: Path | None = None


class TracingSettings(_Strict):
    """OpenTelemetry tracing. Spans are exported over OTLP only when an endpoint is set."""

    otlp_endpoint: str | None = None
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    service_name: str = "llmgateway"


class ObservabilitySettings(_Strict):
    """Logs, metrics and traces."""

    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One structured line per call on the `llmgateway.access` logger.
    access_log: bool = True
    # Add the prompt and the answer to the access log, PII-redacted (masked). Off by default.
    log_content: bool = False
    tracing: TracingSettings = TracingSettings()


class BudgetSettings(_Strict):
    """Spend allowed per calendar period (UTC), in US dollars."""

    usd: float = Field(gt=0)
    period: Literal["day", "month"] = "day"


class RateLimits(_Strict):
    """Limits of a key or a tenant; unset means unlimited."""

    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    max_concurrent: int | None = Field(default=None, gt=0)
    budget: BudgetSettings | None = None


class PiiPolicy(_Strict):
    """PII redaction for a key's calls: on prompts before they leave the gateway (redact them, or
    reject the call with INVALID_ARGUMENT), and on the text of answers, streams included."""

    prompts: Literal["off", "redact", "reject"] = "off"
    output: Literal["off", "redact"] = "off"
    # Detector names (email, phone, credit_card, ssn, ipv4, ipv6, api_key, bearer_token, jwt,
    # aws_access_key_id, aws_secret_access_key); empty means all of them.
    kinds: list[str] = Field(default_factory=list)
    mode: Literal["mask", "hash", "drop"] = "mask"

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - {kind.value for kind in Kind})
        if unknown:
            raise ValueError(f"unknown PII kinds {unknown}")
        return kinds


class KeyPolicy(RateLimits):
    """What a key may do, besides its limits."""

    models: list[str] = Field(default_factory=lambda: ["*"])  # globs
    labels: dict[str, str] = Field(default_factory=dict)  # added to every call (they win over the caller's)
    cache: bool = True
    pii: PiiPolicy = PiiPolicy()


class ApiKeySettings(_Strict):
    """A gateway API key, stored only as its id and a salted hash (see `llmgateway keys create`)."""

    id: str = Field(pattern=r"^[a-z0-9]{8,32}$")
    hash: str = Field(pattern=r"^sha256\$[0-9a-f]{32}\$[0-9a-f]{64}$")
    tenant: str = Field(pattern=_NAME_PATTERN)
    name: str = ""
    revoked: bool = False
    policy: KeyPolicy = KeyPolicy()


class AuthSettings(_Strict):
    """Caller authentication. Off only for local use: the gateway then warns at start."""

    enabled: bool = True
    # Keys the `hash` PII mode with; without it that mode is refused (stable tokens need a secret).
    pii_hash_salt: SecretStr | None = None
    keys: list[ApiKeySettings] = Field(default_factory=list)
    # More keys in a separate YAML file (a list, or {keys: [...]}), e.g. from a secret store.
    keys_file: Path | None = None

    @model_validator(mode="after")
    def _hash_mode_needs_salt(self) -> AuthSettings:
        for key in self.keys:
            if key.policy.pii.mode == "hash" and self.pii_hash_salt is None:
                raise ValueError(f"key {key.id}: PII mode `hash` needs auth.pii_hash_salt")
        return self


class TenantSettings(RateLimits):
    """A tenant's shared limits, over all its keys."""

    name: str = Field(pattern=_NAME_PATTERN)


class StoreSettings(_Strict):
    """Where limits, budgets and the cache keep their state: this process, or Redis for several
    replicas. If Redis is unreachable, limits fail open (admit) or closed (refuse)."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str | None = None
    fail_open: bool = True
    # A concurrency slot is a lease renewed while its call lives: a replica that dies (SIGKILL, a
    # lost node) frees its slots within this long.
    concurrency_lease_s: Seconds = Field(default=10.0, ge=1.0)

    @model_validator(mode="after")
    def _redis_needs_url(self) -> StoreSettings:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("the redis backend needs redis_url")
        return self


class CacheSettings(_Strict):
    """Exact-match response cache; per-call control through request metadata."""

    enabled: bool = False
    ttl_s: Seconds = 300.0
    max_entries: int = Field(default=10_000, gt=0)


class GatewayConfig(_Strict):
    """The whole gateway configuration."""

    server: ServerSettings = ServerSettings()
    providers: list[ProviderSettings] = Field(default_factory=list)
    models: list[ModelSettings] = Field(default_factory=list)
    limits: LimitsSettings = LimitsSettings()
    media: MediaSettings = MediaSettings()
    routing: RoutingSettings = RoutingSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    auth: AuthSettings = AuthSettings()
    tenants: list[TenantSettings] = Field(default_factory=list)
    store: StoreSettings = StoreSettings()
    cache: CacheSettings = CacheSettings()

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        provider_names = [p.name for p in self.providers]
        duplicates = {n for n in provider_names if provider_names.count(n) > 1}
        if duplicates:
            raise ValueError(f"providers: duplicate name(s) {sorted(duplicates)}")
        seen: dict[str, str] = {}
        deployment_ids: dict[str, str] = {}
        for index, model in enumerate(self.models):
            for name in [model.name, *model.aliases]:
                if name in seen:
                    raise ValueError(f"models[{index}]: name {name!r} already used by model {seen[name]!r}")
                seen[name] = model.name
            for d_index, deployment in enumerate(model.deployments):
                where = f"models[{index}].deployments[{d_index}]"
                if deployment.provider not in provider_names:
                    raise ValueError(f"{where}.provider: no provider named {deployment.provider!r}")
                owner = deployment_ids.get(deployment.id)
                if owner is not None and owner != model.name:
                    raise ValueError(
                        f"{where}: deployment {deployment.id!r} is also in model {owner!r}; give one a `name`"
                    )
                deployment_ids[deployment.id] = model.name
        globs = {model.name for model in self.models if model.is_glob}
        for index, model in enumerate(self.models):
            for fallback in model.fallbacks:
                if fallback not in seen or fallback in globs:
                    raise ValueError(f"models[{index}].fallbacks: no model named {fallback!r}")
                if seen[fallback] == model.name:
                    raise ValueError(f"models[{index}].fallbacks: a model cannot fall back to itself")
        self._check_rules(seen, globs, set(deployment_ids))
        return self

    def _check_rules(self, models: dict[str, str], globs: set[str], deployments: set[str]) -> None:
        names: set[str] = set()
        for index, rule in enumerate(self.routing.rules):
            where = f"routing.rules[{index}] ({rule.name})"
            if rule.name in names:
                raise ValueError(f"{where}: another rule has this name")
            names.add(rule.name)
            target = rule.action.model
            if target is not None and (target not in models or target in globs):
                raise ValueError(f"{where}.action.model: no model named {target!r}")
            for deployment in rule.action.deployments:
                if deployment not in deployments:
                    raise ValueError(f"{where}.action.deployments: no deployment {deployment!r}")
            low, high = rule.match.min_prompt_tokens, rule.match.max_prompt_tokens
            if low is not None and high is not None and low > high:
                raise ValueError(f"{where}.match: min_prompt_tokens is above max_prompt_tokens")


def split_host_port(address: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:port`) → (host, port); raises ValueError when malformed."""
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([^\s:\[\]]+):(\d+)", address)
    if not match:
        raise ValueError(f"{address!r} is not HOST:PORT")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError(f"port {port} is out of range")
    return host, port


_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, env: Mapping[str, str], path: str) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; `$$` is a literal `$`.

    Done on parsed values, not on the raw text, so a secret containing YAML syntax stays a string.
    """
    if isinstance(value, dict):
        return {k: _interpolate(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set")

    return _ENV_REFERENCE.sub(replace, value)


def _format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ""
        for part in item["loc"]:
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{location or 'config'}: {message}")
    return "\n".join(lines)


def parse_config(data: Any, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Validate already-parsed YAML data; raises ConfigError naming the bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("config: the top level must be a mapping")
    interpolated = _interpolate(data, os.environ if env is None else env, "")
    try:
        return GatewayConfig.model_validate(interpolated)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error)) from None


# A line of YAML with a key that names a secret (api_key, secret_access_key, pii_hash_salt,
# Authorization, password, ...), block or flow style alike.
_SECRET_LINE = re.compile(
    r"(?i)[\w.-]*(key|secret|password|token|hash|salt|credential|authorization)[\w.-]*\s*:"
)


def _yaml_error(path: Path, error: yaml.YAMLError, text: str) -> str:
    """PyYAML's complaint, with the offending line quoted as PyYAML would, except a line that holds
    a secret field: PyYAML's own snippet would print most of an `api_key:` value into the log and
    `check-config`'s output."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return f"{path}: not valid YAML: {error}"
    lines = text.splitlines()
    parts = []
    for what, mark in ((error.context, error.context_mark), (error.problem, error.problem_mark)):
        if what is None or mark is None:
            continue
        line = lines[mark.line] if mark.line < len(lines) else ""
        shown = "(a secret field: line not shown)" if _SECRET_LINE.search(line) else line.strip()
        parts.append(f"{what} at line {mark.line + 1}, column {mark.column + 1}: {shown}")
    return f"{path}: not valid YAML: " + "; ".join(parts)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(_yaml_error(path, error, text)) from None


def load_config(path: Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read, interpolate and validate a YAML config file (and its auth.keys_file, relative to it).
    An empty file is an error, not the defaults: it is far more often a file caught half-written
    or emptied by a failed render than a wish for a gateway with nothing configured."""
    data = _read_yaml(path)
    if data is None or data == {}:
        raise ConfigError(f"{path}: the file is empty")
    auth = data.get("auth") if isinstance(data, dict) else None
    keys_file = auth.get("keys_file") if isinstance(auth, dict) else None
    if isinstance(auth, dict) and isinstance(keys_file, str):
        keys_path = path.parent / keys_file
        extra = _read_yaml(keys_path)
        if isinstance(extra, dict):
            extra = extra.get("keys")
        if not isinstance(extra, list):
            raise ConfigError(f"auth.keys_file: {keys_path} must hold a list of keys (or {{keys: [...]}})")
        auth["keys"] = [*(auth.get("keys") or []), *extra]
        auth["keys_file"] = str(keys_path)
    return parse_config(data, env)
