"""The store a gateway process builds once: limits, budgets and the response cache, in this
process's memory or in Redis (one client for both), with budget counters kept true to the spend
ledger. It outlives reloads, so a reload never resets anyone's limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio

from llmgateway.cache.backend import CacheBackend
from llmgateway.cache.memory import MemoryCache
from llmgateway.cache.redis_backend import RedisCache
from llmgateway.config import GatewayConfig
from llmgateway.limits.backend import LimitBackend
from llmgateway.limits.budget_book import BudgetBook, SpendLedger
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
    budgets: BudgetBook
    redis: redis.asyncio.Redis | None = None

    async def aclose(self) -> None:
        await self.budgets.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def build_store(
    config: GatewayConfig,
    metrics: GatewayMetrics,
    *,
    ledger: SpendLedger | None = None,
    wall: Callable[[], float] = time.time,
) -> Store:
    """The configured store: this process's memory, or Redis (failing open or closed as configured).
    `ledger`: the spend of record budget counters are seeded from and reconciled with (None: they
    start from zero). `wall`: epoch seconds, for budget periods (a seam for tests)."""
    settings = config.store

    def budgets(limits: LimitBackend) -> BudgetBook:
        return BudgetBook(limits, ledger, config.budgets, fail_open=settings.fail_open, wall=wall)

    if settings.backend == "memory" or settings.redis_url is None:
        memory = MemoryLimitBackend(wall=wall)
        return Store(memory, MemoryCache(config.cache.max_entries), budgets(memory))

    def state(store: str) -> Callable[[bool], None]:
        gauge = metrics.store_up.labels(store)
        gauge.set(1)
        return lambda healthy: gauge.set(1 if healthy else 0)

    client = redis_client(settings.redis_url)
    limits = ResilientLimitBackend(
        RedisLimitBackend(client), fail_open=settings.fail_open, on_state_change=state("limits")
    )
    return Store(limits, RedisCache(client, on_state_change=state("cache")), budgets(limits), client)
