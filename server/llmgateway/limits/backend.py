"""The storage interface behind rate limits and budgets: token buckets, spend counters, concurrency leases.

Two implementations share it: `memory.MemoryLimitBackend` (one process, exact) and
`redis_backend.RedisLimitBackend` (several replicas on one Redis, atomic Lua scripts), optionally wrapped
in `resilient.ResilientLimitBackend` so an unreachable Redis fails open or closed instead of crashing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Bucket:
    """A token bucket: `capacity` tokens, refilled continuously at `refill_per_s` (e.g. RPM N: capacity N, refill N/60)."""

    # e.g. "rpm:key:ab12cd34", "tpm:tenant:acme", "rpm:deployment:openai/gpt-4o" — already namespaced by the caller
    key: str
    capacity: float
    refill_per_s: float


@dataclass(frozen=True)
class Denial:
    bucket: Bucket
    # when the bucket will have room for the demand; None if the demand exceeds capacity (never fits)
    retry_after_s: float | None


@dataclass(frozen=True)
class ReserveResult:
    granted: bool
    denial: Denial | None = None  # the first bucket that refused


class LimitBackend(Protocol):
    # Whether a call may wait (for Redis): False promises that every method below returns without
    # ever suspending, so no cancellation can interrupt one half-way and settling needs no shield.
    waits: bool

    async def reserve(self, demands: Sequence[tuple[Bucket, float]]) -> ReserveResult:
        """All-or-nothing: if every bucket has at least its demand, deduct them all atomically and grant; else deduct nothing."""

    async def adjust(self, demands: Sequence[tuple[Bucket, float]]) -> None:
        """Reconcile after the fact: a positive amount takes more tokens (a bucket may go negative: real usage exceeded the estimate), a negative amount gives tokens back (capped at capacity)."""

    async def add_spend(self, key: str, amount_usd: float, period_end_epoch_s: float) -> float:
        """Add to a budget's spend for the period ending at period_end (keys expire after it); return the new total."""

    async def get_spend(self, key: str) -> float | None:
        """The spend so far in the current period; None when the store holds no counter for it (never
        seeded, its period over, or lost: a restart of the memory store, a Redis flush or eviction)."""

    async def raise_spend(self, key: str, floor_usd: float, period_end_epoch_s: float) -> float:
        """Bring a budget's spend up to at least `floor_usd` (the ledger's sum), never lowering it, in
        one atomic step, creating the counter (expiring at period_end) when there is none; the new total.
        Replicas raising the same counter to the same sum together leave it there, counted once."""

    async def acquire_concurrency(self, key: str, limit: int, lease_s: float) -> str | None:
        """Take one of `limit` concurrent slots; a lease id, or None when all are taken. Leases expire after lease_s (a crashed replica must not leak slots)."""

    async def renew_concurrency(self, leases: Sequence[tuple[str, str]], lease_s: float) -> None:
        """Extend (key, lease) pairs still held to lease_s from now; leases already gone stay gone."""

    async def release_concurrency(self, key: str, lease: str) -> None: ...


def retry_after(tokens: float, demand: float, bucket: Bucket) -> float | None:
    """Seconds until `bucket`, now holding `tokens`, holds `demand`; None when it never will.

    Shared by both backends (the Redis script computes the same thing in Lua) so they agree exactly.
    A bucket that never refills (`refill_per_s` 0) never gains room, so it is None too.
    """
    if demand > bucket.capacity or bucket.refill_per_s <= 0:
        return None
    return max(0.0, (demand - tokens) / bucket.refill_per_s)
