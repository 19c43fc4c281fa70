"""The in-process limit backend: exact, for one gateway process (the default)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmgateway.limits.backend import Bucket, Denial, ReserveResult, retry_after

# Every method below reads and writes its state without an `await` in between, so on one event loop
# no other coroutine can interleave inside a check-then-deduct: the critical sections need no lock.
# Nor does any method ever suspend (`waits = False`), which lets admission settle without a shield.

_GRANTED = ReserveResult(True)


@dataclass
class _Level:
    """A bucket's tokens as of `at` (clock seconds); the refill since then is computed when read."""

    tokens: float
    at: float


@dataclass
class _Spend:
    total: float
    period_end: float  # wall-clock epoch seconds


class MemoryLimitBackend:
    """Token buckets, spend counters and concurrency leases in dictionaries.

    `clock` (monotonic) drives refills and lease expiry; `wall` (epoch seconds) is compared with budget
    period ends, which are calendar times. Both are injectable so tests control time exactly.
    """

    waits = False

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._levels: dict[str, _Level] = {}
        self._spend: dict[str, _Spend] = {}
        self._leases: dict[str, dict[str, float]] = {}  # key -> lease id -> expiry (clock seconds)

    def _tokens(self, bucket: Bucket, now: float) -> float:
        """The bucket's tokens at `now`: a bucket never seen is full."""
        level = self._levels.get(bucket.key)
        if level is None:
            return bucket.capacity
        # min() also trims a bucket whose capacity was lowered by a config reload.
        return min(bucket.capacity, level.tokens + max(0.0, now - level.at) * bucket.refill_per_s)

    async def reserve(self, demands: Sequence[tuple[Bucket, float]]) -> ReserveResult:
        now = self._clock()
        pending: dict[str, float] = {}  # what each bucket would hold after the demands checked so far
        for bucket, demand in demands:
            tokens = pending[bucket.key] if bucket.key in pending else self._tokens(bucket, now)
            if tokens < demand or demand > bucket.capacity:
                return ReserveResult(False, Denial(bucket, retry_after(tokens, demand, bucket)))
            pending[bucket.key] = tokens - demand
        for key, tokens in pending.items():
            self._set(key, tokens, now)
        return _GRANTED

    async def adjust(self, demands: Sequence[tuple[Bucket, float]]) -> None:
        now = self._clock()
        for bucket, amount in demands:
            self._set(bucket.key, min(bucket.capacity, self._tokens(bucket, now) - amount), now)

    def _set(self, key: str, tokens: float, now: float) -> None:
        level = self._levels.get(key)
        if level is None:
            self._levels[key] = _Level(tokens, now)
        else:  # updated in place: a bucket is written twice a call
            level.tokens, level.at = tokens, now

    async def add_spend(self, key: str, amount_usd: float, period_end_epoch_s: float) -> float:
        spend = self._live_spend(key)
        total = (spend.total if spend else 0.0) + amount_usd
        # Like Redis' EXPIREAT, the latest call sets when the counter ends.
        self._spend[key] = _Spend(total, period_end_epoch_s)
        return total

    async def get_spend(self, key: str) -> float | None:
        spend = self._live_spend(key)
        return spend.total if spend else None

    async def raise_spend(self, key: str, floor_usd: float, period_end_epoch_s: float) -> float:
        spend = self._live_spend(key)
        if spend is None:
            spend = self._spend[key] = _Spend(floor_usd, period_end_epoch_s)
        spend.total = max(spend.total, floor_usd)
        spend.period_end = period_end_epoch_s
        return spend.total

    def _live_spend(self, key: str) -> _Spend | None:
        spend = self._spend.get(key)
        if spend is not None and self._wall() >= spend.period_end:
            del self._spend[key]  # the period is over: the next one starts from zero
            return None
        return spend

    async def acquire_concurrency(self, key: str, limit: int, lease_s: float) -> str | None:
        now = self._clock()
        leases = self._leases.setdefault(key, {})
        for lease, expiry in list(leases.items()):
            if expiry <= now:
                del leases[lease]  # its holder crashed or forgot to release: the slot comes back
        if len(leases) >= limit:
            return None
        lease = secrets.token_hex(8)
        leases[lease] = now + lease_s
        return lease

    async def renew_concurrency(self, leases: Sequence[tuple[str, str]], lease_s: float) -> None:
        expiry = self._clock() + lease_s
        for key, lease in leases:
            held = self._leases.get(key)
            if held is not None and lease in held:
                held[lease] = expiry

    async def release_concurrency(self, key: str, lease: str) -> None:
        leases = self._leases.get(key)
        if leases is not None:
            leases.pop(lease, None)
            if not leases:
                del self._leases[key]
