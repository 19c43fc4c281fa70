"""The cost of a call: per-deployment prices from the config, else a small built-in table of
well-known models' list prices (US dollars per million tokens; configure your own for accuracy)."""

from __future__ import annotations

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
_VENDOR_PREFIXES = ("us.", "eu.", "apac.", "anthropic.", "amazon.", "meta.", "cohere.", "models/")


def _family(model: str) -> str:
    name = model.lower()
    for prefix in _VENDOR_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def known_prices(deployment: DeploymentSettings, upstream_model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for a deployment: its configured prices, else the
    longest matching default, else None (unknown). Configuring either price configures both (the
    other is then 0)."""
    configured = deployment.input_price_per_mtok, deployment.output_price_per_mtok
    if configured != (None, None):
        return configured[0] or 0.0, configured[1] or 0.0
    family = _family(upstream_model)
    matches = [prefix for prefix in DEFAULT_PRICES if family.startswith(prefix)]
    return DEFAULT_PRICES[max(matches, key=len)] if matches else None


def prices_for(deployment: DeploymentSettings, upstream_model: str) -> tuple[float, float]:
    """What the gateway charges: known_prices, with an unknown price charged as free."""
    return known_prices(deployment, upstream_model) or (0.0, 0.0)


def cost_usd(prices: tuple[float, float], usage: chat_pb2.Usage) -> float:
    """What `usage` costs at `prices`."""
    input_price, output_price = prices
    return (usage.input_tokens * input_price + usage.output_tokens * output_price) / 1_000_000
