"""Pytest fixtures for a real Redis. Use with `pytest_plugins = ["tests.redis_fixtures"]` in a test module.

CI must not skip these tests: a missing redis-server fails them, pointing at `make test`, which
installs it (mk/redis.mk). On a machine without it, LLMGW_SKIP_REDIS=1 skips them instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer, find_redis_server

SKIP_ENV = "LLMGW_SKIP_REDIS"


def redis_binary() -> str:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: Redis tests skipped")
    binary = find_redis_server()
    if binary is None:
        pytest.fail(
            "redis-server not found (PATH or /usr/bin/redis-server): `make test` installs it "
            f"(mk/redis.mk: make redis-server); to skip the Redis tests locally set {SKIP_ENV}=1",
            pytrace=False,
        )
    return binary


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One redis-server for the whole session; tests keep apart with `redis_prefix`."""
    with RedisServer(redis_binary()) as server:
        yield server.url


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of its own for each test, so tests sharing the session server never collide."""
    return f"llmgw-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server for one test alone, which the test may stop and restart (on the same port)."""
    with RedisServer(redis_binary()) as server:
        yield server
