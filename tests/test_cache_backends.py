"""The response cache backends (memory and Redis) against one set of behaviours, plus LRU eviction
(memory) and a Redis that goes away (misses, no errors, one log line per state change)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

from llmgateway.cache.backend import CacheBackend
from llmgateway.cache.memory import MemoryCache
from llmgateway.cache.redis_backend import RedisCache
from llmgateway.store.redis_client import redis_client
from tests.redis_server import RedisServer

pytest_plugins = ["tests.redis_fixtures"]


@dataclass
class Harness:
    cache: CacheBackend
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
async def caches(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        now = [0.0]

        async def advance(seconds: float) -> None:
            now[0] += seconds

        yield Harness(MemoryCache(clock=lambda: now[0]), advance)
        return
    client = redis_client(request.getfixturevalue("redis_url"))
    cache = RedisCache(client, key_prefix=request.getfixturevalue("redis_prefix"))
    yield Harness(cache, asyncio.sleep)
    await client.aclose()


async def test_get_returns_what_set_stored(caches: Harness) -> None:
    assert await caches.cache.get("tenant-a:k1") is None
    await caches.cache.set("tenant-a:k1", b"\x00answer\xff", 60)
    assert await caches.cache.get("tenant-a:k1") == b"\x00answer\xff"
    await caches.cache.set("tenant-a:k1", b"newer", 60)
    assert await caches.cache.get("tenant-a:k1") == b"newer"
    assert await caches.cache.get("tenant-b:k1") is None


async def test_entries_expire_after_their_ttl(caches: Harness) -> None:
    await caches.cache.set("short", b"1", 0.1)
    await caches.cache.set("long", b"2", 60)
    await caches.advance(0.15)
    assert await caches.cache.get("short") is None
    assert await caches.cache.get("long") == b"2"


async def test_a_ttl_of_zero_stores_nothing(caches: Harness) -> None:
    await caches.cache.set("k", b"v", 0)
    assert await caches.cache.get("k") is None


async def test_memory_cache_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode(), 60)
    assert await cache.get("a") == b"a"  # now "b" is the least recently used
    await cache.set("d", b"d", 60)
    assert len(cache) == 3
    assert await cache.get("b") is None
    assert [await cache.get(key) for key in ("a", "c", "d")] == [b"a", b"c", b"d"]
    await cache.set("c", b"c2", 60)  # rewriting counts as use: "a" goes next
    await cache.set("e", b"e", 60)
    assert await cache.get("a") is None


def test_memory_cache_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)


@pytest.fixture
def cache_log() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("llmgateway.cache.redis_backend")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_redis_cache_misses_while_redis_is_down_and_recovers(
    private_redis: RedisServer, cache_log: list[logging.LogRecord]
) -> None:
    changes: list[bool] = []
    client = redis_client(private_redis.url)
    cache = RedisCache(client, on_state_change=changes.append, probe_interval_s=0.05)
    await cache.set("k", b"v", 60)
    assert await cache.get("k") == b"v"

    private_redis.stop()
    for _ in range(15):
        assert await cache.get("k") is None
        await cache.set("k", b"v", 60)  # dropped, not raised
        await asyncio.sleep(0.01)
    assert [record.levelname for record in cache_log] == ["WARNING"]
    assert changes == [False]

    private_redis.start()  # same port, empty
    await asyncio.sleep(0.06)
    assert await cache.get("k") is None
    await cache.set("k", b"back", 60)
    assert await cache.get("k") == b"back"
    assert [record.levelname for record in cache_log] == ["WARNING", "INFO"]
    assert changes == [False, True]
    await client.aclose()
