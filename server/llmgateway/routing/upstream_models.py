"""What the upstreams themselves serve, for ListModels: asked concurrently, bounded in time,
cached, and never allowed to fail the listing (a provider that cannot answer is left out)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider
from llmgateway.v1 import models_pb2

_log = logging.getLogger(__name__)


class UpstreamModelDirectory:
    """Caches each provider's model list for `ttl_s`; a listing takes at most `timeout_s`."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        ttl_s: float = 60.0,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._providers = providers
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._cache: dict[str, tuple[float, list[str]]] = {}

    async def _list(self, name: str, provider: Provider) -> list[str]:
        cached = self._cache.get(name)
        if cached is not None and self._clock() - cached[0] < self._ttl_s:
            return cached[1]
        try:
            async with asyncio.timeout(self._timeout_s):
                names = await provider.list_models()
        except (GatewayError, TimeoutError) as error:
            _log.warning("provider %s did not list its models: %s", name, error)
            return cached[1] if cached is not None else []
        listed = sorted(set(names or []))
        self._cache[name] = (self._clock(), listed)
        return listed

    async def describe(self) -> list[models_pb2.UpstreamModel]:
        """Every listable provider's models, sorted by provider then name."""
        names = sorted(self._providers)
        listings = await asyncio.gather(*(self._list(name, self._providers[name]) for name in names))
        return [
            models_pb2.UpstreamModel(provider=name, name=model)
            for name, models in zip(names, listings, strict=True)
            for model in models
        ]
