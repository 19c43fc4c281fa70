"""A deployment at run time: its settings, its provider, and what routing learns about it."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmgateway.config import DeploymentSettings, ProviderSettings
from llmgateway.pricing import cost_usd
from llmgateway.providers.base import Provider
from llmgateway.resilience.breaker import CircuitBreaker
from llmgateway.resilience.bulkhead import Bulkhead
from llmgateway.v1 import chat_pb2


@dataclass
class Ewma:
    """Exponentially weighted moving average; None until the first sample."""

    alpha: float
    value: float | None = None

    def add(self, sample: float) -> None:
        self.value = sample if self.value is None else self.alpha * sample + (1 - self.alpha) * self.value


@dataclass
class Deployment:
    """One deployment of one model, shared by every call routed to it."""

    settings: DeploymentSettings
    provider: Provider
    provider_settings: ProviderSettings
    breaker: CircuitBreaker
    bulkhead: Bulkhead
    ttft: Ewma  # streams: time to first token
    latency: Ewma  # unary calls: total latency
    # Smooth weighted round-robin state (nginx's algorithm).
    current_weight: float = field(default=0.0)

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def in_flight(self) -> int:
        return self.bulkhead.in_flight

    def upstream_model(self, requested: str) -> str:
        """The model name to send upstream; glob models substitute the requested name."""
        return self.settings.model.replace("{model}", requested)

    def estimated_cost(self, prompt_tokens: int, output_tokens: int) -> float:
        prices = (self.settings.input_price_per_mtok, self.settings.output_price_per_mtok)
        return cost_usd(prices, chat_pb2.Usage(input_tokens=prompt_tokens, output_tokens=output_tokens))
