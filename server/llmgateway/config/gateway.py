"""The whole gateway configuration: every section, and the checks that span sections (references
between providers, models, fallbacks and rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from llmgateway.config.access import AuthSettings, TenantSettings
from llmgateway.config.admin import AdminSettings
from llmgateway.config.budgets import BudgetsSettings
from llmgateway.config.common import ConfigError, Seconds, Strict, validation_message
from llmgateway.config.ledger import LedgerSettings
from llmgateway.config.models import ModelSettings
from llmgateway.config.providers import ProviderSettings
from llmgateway.config.routing import RoutingSettings
from llmgateway.config.server import ServerSettings


class LimitsSettings(Strict):
    """Limits on what one request may carry."""

    # The largest request (as v1 protobuf) accepted; larger: INVALID_ARGUMENT.
    max_request_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # The most messages a request may carry.
    max_messages: int = Field(default=1000, gt=0)
    # Inputs of one Embed call (the gateway splits them into each provider's batch size).
    max_embedding_inputs: int = Field(default=10_000, gt=0)


class MediaSettings(Strict):
    """Fetching media URIs to inline them, for providers that only take bytes. Off by default: a
    caller must not be able to steer the gateway to arbitrary URLs. When on: https only, hosts that
    resolve to private, loopback, link-local or other special addresses refused (each redirect is
    checked again), and size and time capped."""

    # Fetch image URIs and inline them for providers that only take bytes.
    fetch_uris: bool = False
    # The largest media fetched.
    max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # A fetch that takes longer fails.
    timeout_s: Seconds = 10.0
    # Redirects followed (each checked again).
    max_redirects: int = Field(default=3, ge=0)
    # For tests against a local https server only; never enable in production.
    allow_private_addresses: bool = False
    # Extra PEM CA bundle for fetching (tests against a local https server).
    ca_file: Path | None = None


class TracingSettings(Strict):
    """OpenTelemetry tracing. Spans are exported over OTLP only when an endpoint is set."""

    # OTLP/gRPC collector, e.g. http://collector:4317; None: spans are not exported.
    otlp_endpoint: str | None = None
    # Share of new traces sampled (a caller's sampled trace is always followed).
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    # The service.name resource attribute.
    service_name: str = "llmgateway"
    # Health checks (gRPC and HTTP) and server reflection make no spans unless this is on:
    # Kubernetes probes every few seconds would otherwise fill the traces with noise.
    trace_health_and_reflection: bool = False


class ObservabilitySettings(Strict):
    """Logs, metrics and traces."""

    # json (one object per line) or text.
    log_format: Literal["json", "text"] = "json"
    # The root log level.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One structured line per call on the `llmgateway.access` logger.
    access_log: bool = True
    # Add the prompt and the answer to the access log, PII-redacted (masked). Off by default.
    log_content: bool = False
    # OpenTelemetry tracing.
    tracing: TracingSettings = TracingSettings()


class StoreSettings(Strict):
    """Where limits, budgets and the cache keep their state: this process, or Redis for several
    replicas. If Redis is unreachable, limits fail open (admit) or closed (refuse)."""

    # memory (this process) or redis (shared by replicas).
    backend: Literal["memory", "redis"] = "memory"
    # redis:// or rediss:// URL of the shared store (required with backend redis).
    redis_url: str | None = None
    # Redis unreachable: admit calls (true) or refuse them with LIMITS_UNAVAILABLE (false).
    fail_open: bool = True
    # A concurrency slot is a lease renewed while its call lives: a replica that dies (SIGKILL, a
    # lost node) frees its slots within this long.
    concurrency_lease_s: Seconds = Field(default=10.0, ge=1.0)

    @model_validator(mode="after")
    def _redis_needs_url(self) -> StoreSettings:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("the redis backend needs redis_url")
        return self


class CacheSettings(Strict):
    """Exact-match response cache; per-call control through request metadata."""

    # Cache answers (callers opt out per call with cache-control metadata).
    enabled: bool = False
    # How long an answer is served from the cache.
    ttl_s: Seconds = 300.0
    # The most answers the memory backend keeps (least recently used go first).
    max_entries: int = Field(default=10_000, gt=0)


class GatewayConfig(Strict):
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
    budgets: BudgetsSettings = BudgetsSettings()
    store: StoreSettings = StoreSettings()
    cache: CacheSettings = CacheSettings()
    ledger: LedgerSettings = LedgerSettings()
    admin: AdminSettings = AdminSettings()

    def with_listeners(self, **addresses: str | None) -> GatewayConfig:
        """This config with some of `server`'s listen addresses replaced (command-line flags, a
        supervisor's resolved ports); "" or None switches the HTTP or metrics listener off."""
        try:
            server = ServerSettings.model_validate({**self.server.model_dump(), **addresses})
        except ValidationError as error:
            raise ConfigError(validation_message(error, "server")) from None
        return self.model_copy(update={"server": server})

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
                fallback_kind = next(m.kind for m in self.models if m.name == seen[fallback])
                if fallback_kind != model.kind:
                    raise ValueError(
                        f"models[{index}].fallbacks: {fallback!r} is of kind {fallback_kind!r}, "
                        f"{model.name!r} of kind {model.kind!r}: a model falls back only to its own kind"
                    )
        self._check_rules(seen, globs, set(deployment_ids))
        tls = self.server.tls
        if self.admin.client_identities and (tls is None or not tls.require_client_cert):
            # gRPC asks for (and verifies) a client certificate only when it requires one.
            raise ValueError("admin.client_identities: needs server.tls with require_client_cert: true")
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
