"""Build provider adapters from configuration."""

from __future__ import annotations

from llmgateway.config import GatewayConfig, ProviderSettings
from llmgateway.providers.base import Provider
from llmgateway.providers.echo import EchoProvider
from llmgateway.providers.openai_compat import OpenAICompatProvider


def build_provider(settings: ProviderSettings) -> Provider:
    """The adapter for one configured provider."""
    if settings.type == "echo":
        return EchoProvider(settings.name)
    if settings.type in ("openai", "vllm", "together"):
        return OpenAICompatProvider(settings)
    # config validation refuses types without an adapter, so this is a programming error
    raise AssertionError(f"no adapter for provider type {settings.type!r}")


def build_providers(config: GatewayConfig) -> dict[str, Provider]:
    """Every configured provider by name."""
    return {settings.name: build_provider(settings) for settings in config.providers}
