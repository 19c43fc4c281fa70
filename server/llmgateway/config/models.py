"""Models and their deployments: what each deployment can do, its limits and prices, and which
failures send a call on to a fallback model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmgateway.config.common import Strict


class CapabilitySettings(Strict):
    """What a deployment can serve; the capability filter keeps requests off deployments that can't."""

    # Takes tool definitions and tool calls.
    tools: bool = True
    # Takes image parts.
    images: bool = True
    # Takes a response JSON schema (structured output).
    json_schema: bool = True
    # Whether the model reasons (takes reasoning settings); None: inferred from its name
    # (llmgateway.reasoning.support.REASONING_MODELS).
    reasoning: bool | None = None
    # Prompt plus output tokens; None means unknown (never filtered on).
    context_window: int | None = Field(default=None, gt=0)


class DeploymentLimits(Strict):
    """Per-deployment limits: the bulkhead (calls in flight, and how long to wait for a slot), and
    the provider's own rate limits, so calls are shed before the provider answers 429."""

    # Bulkhead: calls in flight to this deployment at once.
    max_in_flight: int = Field(default=100, gt=0)
    # How long a call waits for a bulkhead slot before trying the next deployment.
    max_wait_s: float = Field(default=5.0, ge=0)
    # The provider's requests-per-minute limit for this deployment; calls beyond it go elsewhere.
    rpm: int | None = Field(default=None, gt=0)
    # The provider's tokens-per-minute limit (estimated prompt plus output).
    tpm: int | None = Field(default=None, gt=0)


class DeploymentSettings(Strict):
    """A model served by a provider: the provider's name and the model name it expects.

    In a glob model (`name: "claude-*"`), `{model}` in `model` is replaced by the name the caller
    asked for."""

    # The name of a configured provider.
    provider: str
    # The model name the provider expects (Azure: the deployment name).
    model: str = Field(min_length=1)
    # An id for metrics, logs and response metadata; default "<provider>/<model>".
    name: str | None = None
    # Share of calls under the weighted strategy.
    weight: float = Field(default=1.0, gt=0)
    # USD per million tokens. Unset: the built-in list price of a well-known model (routing/pricing.py);
    # 0 is a real price (a self-hosted model that costs nothing per call).
    input_price_per_mtok: float | None = Field(default=None, ge=0)
    # See input_price_per_mtok.
    output_price_per_mtok: float | None = Field(default=None, ge=0)
    # Prompt tokens read from / written to the provider's prompt cache (1h: writes that asked for
    # the 1-hour lifetime). Unset: the model family's multiple of the input price (pricing.py).
    cache_read_price_per_mtok: float | None = Field(default=None, ge=0)
    # Prompt tokens written to the prompt cache with the default (5-minute) lifetime.
    cache_write_price_per_mtok: float | None = Field(default=None, ge=0)
    # Prompt tokens written with the 1-hour lifetime.
    cache_write_1h_price_per_mtok: float | None = Field(default=None, ge=0)
    # What this deployment can serve (the capability filter).
    capabilities: CapabilitySettings = CapabilitySettings()
    # Bulkhead and the provider's own rate limits.
    limits: DeploymentLimits = DeploymentLimits()

    @property
    def id(self) -> str:
        return self.name or f"{self.provider}/{self.model}"


Strategy = Literal["weighted", "round_robin", "least_in_flight", "latency", "cost"]
# What a model is called for: ChatService (chat) or EmbeddingService (embedding). A model of one
# kind asked through the other service is refused by name (routing/kinds.py).
ModelKind = Literal["chat", "embedding"]
# `content_filtered` and `refused` are also answers: a content-filter or refusal finish (see
# routing/attempts.py), which go elsewhere only when a model lists them here.
ErrorClass = Literal[
    "unavailable", "rate_limited", "timeout", "context_length_exceeded", "content_filtered", "refused"
]
GLOB_CHARS = frozenset("*?[")
DEFAULT_FALLBACK_ON: tuple[ErrorClass, ...] = (
    "unavailable",
    "rate_limited",
    "timeout",
    "context_length_exceeded",
)


class ModelSettings(Strict):
    """A model name callers ask for (or a glob such as `claude-*`), and the deployments that serve it."""

    # The name callers ask for, or a glob (`claude-*`) that serves any matching name.
    name: str = Field(pattern=r"^[A-Za-z0-9*?\[\]][A-Za-z0-9._:/*?\[\]-]{0,127}$")
    # chat: called through ChatService; embedding: through EmbeddingService (and /v1/embeddings).
    kind: ModelKind = "chat"
    # Other names for this model.
    aliases: list[str] = Field(default_factory=list)
    # Where the model is served; the strategy picks among them, the rest are failovers.
    deployments: list[DeploymentSettings] = Field(min_length=1)
    # How a deployment is picked.
    strategy: Strategy = "weighted"
    # Other models tried, in order, when every deployment of this one failed with an error of a
    # class in `fallback_on`. Two classes are off by default because they are answers, not
    # failures: `refused` (the model declined: FINISH_REASON_REFUSAL) and `content_filtered` (a
    # content-filter finish, or a provider's 400 for a filtered prompt). Listed, such an answer sends
    # the call on to the model's next deployment, then its fallbacks; if none answers otherwise, the
    # caller gets the last refusal.
    fallbacks: list[str] = Field(default_factory=list)
    # The error classes that send a call on to `fallbacks` (content_filtered only when listed).
    fallback_on: list[ErrorClass] = Field(default_factory=lambda: list(DEFAULT_FALLBACK_ON))

    @property
    def is_glob(self) -> bool:
        return any(char in GLOB_CHARS for char in self.name)
