"""The gateway's one Redis client per process: limits, budgets and the response cache share it (and
its connection pool), with its settings in one place."""

from __future__ import annotations

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def redis_client(url: str, *, socket_timeout_s: float = 1.0) -> redis.asyncio.Redis:
    """A client whose every wait is bounded by `socket_timeout_s` (an unreachable Redis costs at most
    that per call, and store/health.py then stops calling it), retrying once at once, for a pooled
    connection that went stale."""
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=Retry(NoBackoff(), 1),
    )
