"""A deployment as configured: its settings, its provider, and what a call there costs. What
routing learns about it at run time (latencies, breaker, slots) is its upstream's (upstream.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmgateway.config import DeploymentSettings, ProviderSettings
from llmgateway.providers.base import Provider
from llmgateway.routing.pricing import FREE, Prices, cost_usd, known_prices, prices_for
from llmgateway.v1 import chat_pb2

_ANSWER_PRICES = 32


@dataclass
class Deployment:
    """One deployment of one model."""

    settings: DeploymentSettings
    provider: Provider
    provider_settings: ProviderSettings
    # The cost strategy asks for the price on every call, so it is looked up once when it cannot
    # change: when the upstream model is fixed. A glob deployment's depends on the requested name,
    # which callers choose freely; it is looked up per call (cheap) rather than cached, since a
    # cache keyed by caller input would grow without bound.
    _price_varies: bool = field(init=False, repr=False)
    _fixed_price: Prices | None = field(init=False, repr=False)
    # The prices of the model names answers came back with (answer_prices): a handful per
    # deployment (gpt-4o answers as gpt-4o-2024-08-06), so at most _ANSWER_PRICES are kept.
    _answer_prices: dict[str, Prices] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._price_varies = "{model}" in self.settings.model
        self._fixed_price = known_prices(self.settings, self.settings.model)

    @property
    def id(self) -> str:
        return self.settings.id

    def upstream_model(self, requested: str) -> str:
        """The model name to send upstream; glob models substitute the requested name."""
        return self.settings.model.replace("{model}", requested)

    def prices(self, requested: str | None) -> Prices | None:
        """The USD per million tokens that the gateway would charge for a call of the
        requested model here (pricing.prices_for), or None when the price is unknown. Without a
        requested name a glob deployment is priced as its unsubstituted model: usually unknown."""
        if not self._price_varies or requested is None:
            return self._fixed_price
        return known_prices(self.settings, self.upstream_model(requested))

    def answer_prices(self, answered_model: str, requested: str) -> Prices:
        """What a call for `requested` is charged at when its answer names `answered_model` (or
        names none: the model sent upstream), as pricing.prices_for says: looked up once per name,
        since the lookup matches the name against every price prefix (about 500 bytecodes, 3% of a
        unary call). Names past the first _ANSWER_PRICES come from an upstream that makes them up,
        and are looked up every time rather than kept."""
        model = answered_model or self.upstream_model(requested)
        prices = self._answer_prices.get(model)
        if prices is None:
            prices = prices_for(self.settings, model)
            if len(self._answer_prices) < _ANSWER_PRICES:
                self._answer_prices[model] = prices
        return prices

    def cost(self, requested: str, usage: chat_pb2.Usage, *, long_cache_writes: bool = False) -> float:
        """What `usage` is charged on this deployment for the requested model (an unknown price
        charges nothing, as pricing.prices_for); `long_cache_writes` as pricing.cost_usd."""
        return cost_usd(self.prices(requested) or FREE, usage, long_cache_writes=long_cache_writes)

    def estimated_cost(self, requested: str | None, prompt_tokens: int, output_tokens: int) -> float | None:
        """What the call would cost here, or None when the price is unknown."""
        prices = self.prices(requested)
        if prices is None:
            return None
        return cost_usd(prices, chat_pb2.Usage(input_tokens=prompt_tokens, output_tokens=output_tokens))
