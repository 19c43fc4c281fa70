"""Models and their deployments: what each deployment can do, its limits and prices, and which
failures send a call on to a fallback model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmgateway.config.common import Strict


class CapabilitySettings(Strict):
    """What a deployment can serve; the capability filter keeps requests off deployments that can't."""

    tools: bool = True
    images: bool = True
    json_schema: bool = True
    # Prompt plus output tokens; None means unknown (never filtered on).
    context_window: int | None = Field(default=None, gt=0)


class DeploymentLimits(Strict):
    """Per-deployment limits: the bulkhead (calls in flight, and how long to wait for a slot), and
    the provider's own rate limits, so calls are shed before the provider answers 429."""

    max_in_flight: int = Field(default=100, gt=0)
    max_wait_s: float = Field(default=5.0, ge=0)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class DeploymentSettings(Strict):
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
    # Prompt tokens read from / written to the provider's prompt cache (1h: writes that asked for
    # the 1-hour lifetime). Unset: the model family's multiple of the input price (pricing.py).
    cache_read_price_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_price_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_1h_price_per_mtok: float | None = Field(default=None, ge=0)
    capabilities: CapabilitySettings = CapabilitySettings()
    limits: DeploymentLimits = DeploymentLimits()

    @property
    def id(self) -> str:
        return self.name or f"{self.provider}/{self.model}"


Strategy = Literal["weighted", "round_robin", "least_in_flight", "latency", "cost"]
ErrorClass = Literal["unavailable", "rate_limited", "timeout", "context_length_exceeded", "content_filtered"]
GLOB_CHARS = frozenset("*?[")
DEFAULT_FALLBACK_ON: tuple[ErrorClass, ...] = (
    "unavailable",
    "rate_limited",
    "timeout",
    "context_length_exceeded",
)


class ModelSettings(Strict):
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
        return any(char in GLOB_CHARS for char in self.name)
