"""The store a gateway process builds once: limits, budgets and the response cache, in this
process's memory or in Redis (one client for both). It outlives reloads, so a reload never resets
anyone's limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio

from llmgateway.cache.backend import CacheBackend
from llmgateway.cache.memory import MemoryCache
from llmgateway.cache.redis_backend import RedisCache
from llmgateway.config import GatewayConfig
from llmgateway.limits.backend import LimitBackend
from llmgateway.limits.memory import MemoryLimitBackend
from llmgateway.limits.redis_backend import RedisLimitBackend
from llmgateway.limits.resilient import ResilientLimitBackend
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.store.redis_client import redis_client


@dataclass
class Store:
    """State shared by every config and (with Redis) every replica: limits, budgets, the cache."""

    limits: LimitBackend
    cache: CacheBackend
    redis: redis.asyncio.Redis | None = None

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def build_store(config: GatewayConfig, metrics: GatewayMetrics) -> Store:
    """The configured store: this process's memory, or Redis (failing open or closed as configured)."""
    settings = config.store
    if settings.backend == "memory" or settings.redis_url is None:
        return Store(MemoryLimitBackend(), MemoryCache(config.cache.max_entries))

    def state(store: str) -> Callable[[bool], None]:
        gauge = metrics.store_up.labels(store)
        gauge.set(1)
        return lambda healthy: gauge.set(1 if healthy else 0)

    client = redis_client(settings.redis_url)
    limits = ResilientLimitBackend(
        RedisLimitBackend(client), fail_open=settings.fail_open, on_state_change=state("limits")
    )
    return Store(limits, RedisCache(client, on_state_change=state("cache")), client)
