"""The cost of a call: per-deployment prices from the config, else a small built-in table of
well-known models' list prices (US dollars per million tokens; configure your own for accuracy).

Prompt tokens read from or written to the provider's prompt cache are charged at their own rates:
cost = uncached input x input + cache reads x read + cache writes x write + output x output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from llmgateway.config import DeploymentSettings
from llmgateway.v1 import chat_pb2

# (input, output) USD per million tokens. Keys are model-name prefixes: dated snapshots and
# provider-prefixed ids (Bedrock's "anthropic.claude-…") match their family.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5": (1.25, 10.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.0-flash": (0.10, 0.40),
    "nova-lite": (0.06, 0.24),
    "nova-pro": (0.80, 3.20),
    # Embedding models: input only.
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
    "gemini-embedding-001": (0.15, 0.0),
    "text-embedding-004": (0.0, 0.0),  # free of charge on the Gemini API
    "titan-embed-text-v2": (0.02, 0.0),
    "titan-embed-text-v1": (0.10, 0.0),
    "embed-english-v3": (0.10, 0.0),
    "embed-multilingual-v3": (0.10, 0.0),
}
# Prompt-cache rates as multiples of the input price, by model-name prefix: (read, write with the
# default 5-minute lifetime, write with the 1-hour lifetime), from the providers' published prices.
# Claude (Anthropic and Bedrock): reads 0.1x, writes 1.25x, 1-hour writes 2x. OpenAI and Gemini
# cache on their own and charge nothing extra to write; reads are 0.5x (gpt-4o), 0.25x (gpt-4.1),
# 0.1x (gpt-5, Gemini 2.5), 0.25x (Gemini 2.0, Nova).
DEFAULT_CACHE_MULTIPLIERS: dict[str, tuple[float, float, float]] = {
    "claude": (0.10, 1.25, 2.00),
    "gpt-4o": (0.50, 1.00, 1.00),
    "gpt-4.1": (0.25, 1.00, 1.00),
    "gpt-5": (0.10, 1.00, 1.00),
    "gemini-2.5": (0.10, 1.00, 1.00),
    "gemini-2.0": (0.25, 1.00, 1.00),
    "nova": (0.25, 1.00, 1.00),
}
# Without a known family the cache costs what plain input costs: no discount is assumed.
_NO_CACHE_PRICING = (1.0, 1.0, 1.0)
_VENDOR_PREFIXES = ("us.", "eu.", "apac.", "global.", "anthropic.", "amazon.", "meta.", "cohere.", "models/")
_Rates = TypeVar("_Rates")


@dataclass(frozen=True)
class Prices:
    """USD per million tokens of each kind."""

    input: float
    output: float
    cache_read: float
    cache_write: float  # the default (5-minute) lifetime
    cache_write_1h: float


FREE = Prices(0.0, 0.0, 0.0, 0.0, 0.0)


def _family(model: str) -> str:
    name = model.lower()
    for prefix in _VENDOR_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def _longest_match(table: dict[str, _Rates], family: str) -> _Rates | None:
    matches = [prefix for prefix in table if family.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


def known_prices(deployment: DeploymentSettings, upstream_model: str) -> Prices | None:
    """The prices of a deployment: its configured ones, else the longest matching default, else
    None (unknown). Configuring either of input and output configures both (the other is then 0).
    Cache rates unset in the config are the model family's multiples of the input price (the input
    price itself for an unknown family)."""
    family = _family(upstream_model)
    configured = deployment.input_price_per_mtok, deployment.output_price_per_mtok
    if configured != (None, None):
        input_price, output_price = configured[0] or 0.0, configured[1] or 0.0
    else:
        listed = _longest_match(DEFAULT_PRICES, family)
        if listed is None:
            return None
        input_price, output_price = listed
    read, write, write_1h = _longest_match(DEFAULT_CACHE_MULTIPLIERS, family) or _NO_CACHE_PRICING

    def rate(configured_rate: float | None, multiple: float) -> float:
        return configured_rate if configured_rate is not None else input_price * multiple

    return Prices(
        input=input_price,
        output=output_price,
        cache_read=rate(deployment.cache_read_price_per_mtok, read),
        cache_write=rate(deployment.cache_write_price_per_mtok, write),
        cache_write_1h=rate(deployment.cache_write_1h_price_per_mtok, write_1h),
    )


def prices_for(deployment: DeploymentSettings, upstream_model: str) -> Prices:
    """What the gateway charges: known_prices, with an unknown price charged as free."""
    return known_prices(deployment, upstream_model) or FREE


def cost_usd(prices: Prices, usage: chat_pb2.Usage, *, long_cache_writes: bool = False) -> float:
    """What `usage` costs at `prices`. v1 counts cache reads and writes inside input_tokens; they
    are taken out and charged at their own rates, each write at its lifetime's rate where the
    provider split them (cache_write_1h_input_tokens set). `long_cache_writes`: the request asked
    for the 1-hour lifetime somewhere; a provider that does not split its writes has them all
    charged at the 1-hour rate then (the most they can cost: a ledger never under-counts)."""
    reads, writes = usage.cached_input_tokens, usage.cache_write_input_tokens
    uncached = max(usage.input_tokens - reads - writes, 0)
    if usage.HasField("cache_write_1h_input_tokens"):
        long_writes = min(usage.cache_write_1h_input_tokens, writes)
    else:
        long_writes = writes if long_cache_writes else 0
    return (
        uncached * prices.input
        + reads * prices.cache_read
        + (writes - long_writes) * prices.cache_write
        + long_writes * prices.cache_write_1h
        + usage.output_tokens * prices.output
    ) / 1_000_000
