"""The Redis response cache: answers shared by every replica, expired by Redis itself."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import cast

import redis.asyncio

from llmgateway.store.health import BackendHealth

_log = logging.getLogger(__name__)


class RedisCache:
    """Values under `key_prefix + key`, stored with SET PX so each expires on its own.

    `client` is the store's (store/redis_client.py), shared and closed by it. A cache is an
    optimisation, so an unreachable Redis is never an error here: reads are misses and
    writes are dropped, with one warning when Redis goes away and one info line when it is back
    (`on_state_change(healthy)` is called on each change, for a metric).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        key_prefix: str = "llmgw:cache:",
        on_state_change: Callable[[bool], None] | None = None,
        probe_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = key_prefix
        self._redis = client
        self.health = BackendHealth(
            "response-cache",
            failing="serving misses and storing nothing",
            on_state_change=on_state_change,
            probe_interval_s=probe_interval_s,
            clock=clock,
            logger=_log,
        )

    async def get(self, key: str) -> bytes | None:
        async def read() -> bytes | None:
            # bytes, never str: the client is built without decode_responses
            return cast("bytes | None", await self._redis.get(self._prefix + key))

        return await self.health.call(read, lambda: None)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        ttl_ms = math.ceil(ttl_s * 1000)
        if ttl_ms <= 0:
            return

        async def write() -> None:
            await self._redis.set(self._prefix + key, value, px=ttl_ms)

        await self.health.call(write, lambda: None)
