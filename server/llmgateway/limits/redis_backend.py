"""The Redis limit backend: limits that hold across gateway replicas sharing one Redis.

Every check-then-write is one Lua script, which Redis runs atomically, so N replicas together never
admit more than a bucket holds. Scripts read the time from `redis.call('TIME')`: the Redis server is
the one clock all replicas agree on, whatever the skew between their own clocks.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from typing import Any

import redis.asyncio

from llmgateway.limits.backend import Bucket, Denial, ReserveResult

# Shared by the reserve and adjust scripts. A bucket is a hash {tokens, ts}: its level as of `ts`
# (Redis time, seconds); the refill since then is computed on read, so idle buckets cost nothing.
# Numbers are written with string.format because Redis turns Lua numbers into strings of only
# 14 significant digits, too few for epoch seconds with microseconds.
_BUCKET_FUNCTIONS = """
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function level(key, capacity, rate, now)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens, ts = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or ts == nil then
    return capacity
  end
  return math.min(capacity, tokens + math.max(0, now - ts) * rate)
end

local function store(key, tokens, capacity, rate, now)
  redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.6f', now))
  if rate > 0 then
    -- Once full again the hash says no more than a missing key does, so let it vanish then
    -- (plus a margin); the clamp keeps absurdly slow refills within PEXPIRE's range.
    local full_in_ms = math.min(math.ceil((capacity - tokens) / rate * 1000), 1e12)
    redis.call('PEXPIRE', key, string.format('%.0f', full_in_ms + 1000))
  else
    redis.call('PERSIST', key)  -- a bucket that never refills must not reset by expiring
  end
end
"""

# KEYS: the bucket hashes; ARGV: capacity, refill_per_s, demand for each key in turn.
# Checks every bucket first and writes only when all have room: {1}, or {0, index, retry_after}
# for the first refusal (retry_after as a string, '' when the demand can never fit).
_RESERVE = (
    _BUCKET_FUNCTIONS
    + """
local now = now_s()
local pending, params = {}, {}
for i, key in ipairs(KEYS) do
  local capacity, rate, demand = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local tokens = pending[key] or level(key, capacity, rate, now)
  if tokens < demand or demand > capacity then
    local retry = ''
    if demand <= capacity and rate > 0 then
      retry = string.format('%.17g', (demand - tokens) / rate)
    end
    return {0, i, retry}
  end
  pending[key] = tokens - demand
  params[key] = {capacity, rate}
end
for key, tokens in pairs(pending) do
  store(key, tokens, params[key][1], params[key][2], now)
end
return {1}
"""
)

# KEYS: the bucket hashes; ARGV: capacity, refill_per_s, amount for each key in turn.
# Takes `amount` from each refilled level (negative gives back), caps at capacity, may go below zero.
_ADJUST = (
    _BUCKET_FUNCTIONS
    + """
local now = now_s()
for i, key in ipairs(KEYS) do
  local capacity, rate, amount = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  store(key, math.min(capacity, level(key, capacity, rate, now) - amount), capacity, rate, now)
end
return 1
"""
)

# KEYS[1]: the spend counter; ARGV: amount, period end (epoch ms). Adds and (re)sets the expiry in
# one step, so a counter can never be left without one; returns the new total as a string.
_SPEND = """
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return total
"""

# KEYS[1]: the spend counter; ARGV: floor (the ledger's sum), period end (epoch ms). Raises the
# counter to the floor if it holds less or is missing, never lowers it (spend the ledger has not
# seen yet stays counted), and (re)sets the expiry; returns the total as stored (a string).
_RAISE_SPEND = """
local stored = redis.call('GET', KEYS[1])
if not stored or tonumber(stored) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  stored = ARGV[1]
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return stored
"""

# KEYS[1]: a sorted set of leases scored by expiry (Redis time, seconds); ARGV: limit, lease_s, lease.
# Drops expired leases (their holders crashed), then adds this one if fewer than `limit` remain: 1 or 0.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%.6f', now + tonumber(ARGV[2])), ARGV[3])
-- the set lives as long as its longest lease, so an abandoned key vanishes on its own
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.ceil(tonumber(last[2]) * 1000)))
return 1
"""


# KEYS: lease sets; ARGV[1]: lease_s, then one lease per key. Extends each lease still in its set
# (XX: one that expired and was dropped is not brought back) and the set's own expiry with it.
_RENEW = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', string.format('%.6f', expiry), ARGV[i + 1]) == 1 then
    redis.call('PEXPIREAT', key, string.format('%.0f', math.ceil(expiry * 1000)))
  end
end
return 0
"""


def _bucket_args(demands: Sequence[tuple[Bucket, float]]) -> list[float]:
    return [value for bucket, amount in demands for value in (bucket.capacity, bucket.refill_per_s, amount)]


class RedisLimitBackend:
    """Token buckets, spend counters and concurrency leases in Redis, shared by every replica.

    `socket_timeout_s` bounds each call when Redis hangs rather than refuses; one immediate retry
    covers a pooled connection that went stale while Redis restarted. Connection errors propagate:
    wrap the backend in `ResilientLimitBackend` to fail open or closed instead.
    """

    waits = True

    def __init__(self, client: redis.asyncio.Redis, *, key_prefix: str = "llmgw:") -> None:
        """`client` is the store's (store/redis_client.py), shared and closed by it."""
        self._prefix = key_prefix
        self._redis = client
        self._reserve = self._redis.register_script(_RESERVE)
        self._adjust = self._redis.register_script(_ADJUST)
        self._spend = self._redis.register_script(_SPEND)
        self._raise_spend = self._redis.register_script(_RAISE_SPEND)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)

    def _bucket_keys(self, demands: Sequence[tuple[Bucket, float]]) -> list[str]:
        return [f"{self._prefix}bucket:{bucket.key}" for bucket, _ in demands]

    async def reserve(self, demands: Sequence[tuple[Bucket, float]]) -> ReserveResult:
        if not demands:
            return ReserveResult(True)
        reply: list[Any] = await self._reserve(keys=self._bucket_keys(demands), args=_bucket_args(demands))
        if reply[0] == 1:
            return ReserveResult(True)
        bucket = demands[int(reply[1]) - 1][0]
        retry_after_s = float(reply[2]) if reply[2] else None
        return ReserveResult(False, Denial(bucket, retry_after_s))

    async def adjust(self, demands: Sequence[tuple[Bucket, float]]) -> None:
        if demands:
            await self._adjust(keys=self._bucket_keys(demands), args=_bucket_args(demands))

    async def add_spend(self, key: str, amount_usd: float, period_end_epoch_s: float) -> float:
        end_ms = math.ceil(period_end_epoch_s * 1000)
        total = await self._spend(keys=[f"{self._prefix}spend:{key}"], args=[repr(amount_usd), end_ms])
        return float(total)

    async def get_spend(self, key: str) -> float | None:
        total = await self._redis.get(f"{self._prefix}spend:{key}")
        return float(total) if total is not None else None

    async def raise_spend(self, key: str, floor_usd: float, period_end_epoch_s: float) -> float:
        end_ms = math.ceil(period_end_epoch_s * 1000)
        total = await self._raise_spend(keys=[f"{self._prefix}spend:{key}"], args=[repr(floor_usd), end_ms])
        return float(total)

    async def acquire_concurrency(self, key: str, limit: int, lease_s: float) -> str | None:
        lease = secrets.token_hex(8)
        taken = await self._acquire(keys=[f"{self._prefix}concurrency:{key}"], args=[limit, lease_s, lease])
        return lease if taken == 1 else None

    async def renew_concurrency(self, leases: Sequence[tuple[str, str]], lease_s: float) -> None:
        if leases:
            keys = [f"{self._prefix}concurrency:{key}" for key, _ in leases]
            await self._renew(keys=keys, args=[lease_s, *(lease for _, lease in leases)])

    async def release_concurrency(self, key: str, lease: str) -> None:
        await self._redis.zrem(f"{self._prefix}concurrency:{key}", lease)
