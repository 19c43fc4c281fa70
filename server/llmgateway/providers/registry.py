"""Build provider adapters from configuration.

Each provider type is implemented by one module or protocol folder under llmgateway.providers
(config.ADAPTER_MODULES) exposing `create(settings, context) -> Provider`, so adding a protocol
touches no shared code.
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from llmgateway.config import ADAPTER_MODULES, GatewayConfig, ProviderSettings
from llmgateway.providers.base import Provider, ProviderContext


class _AdapterModule(Protocol):
    def create(self, settings: ProviderSettings, context: ProviderContext) -> Provider: ...


def build_provider(settings: ProviderSettings, context: ProviderContext) -> Provider:
    """The adapter for one configured provider."""
    module = importlib.import_module(f"llmgateway.providers.{ADAPTER_MODULES[settings.type]}")
    return cast(_AdapterModule, module).create(settings, context)


def build_providers(config: GatewayConfig, context: ProviderContext) -> dict[str, Provider]:
    """Every configured provider by name."""
    return {settings.name: build_provider(settings, context) for settings in config.providers}
