"""Keep serving when the shared limits store is unreachable: fail open or closed, report state changes."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from llmgateway.errors import GatewayError
from llmgateway.limits.backend import Bucket, LimitBackend, ReserveResult
from llmgateway.reasons import Reason
from llmgateway.store.health import BackendHealth

_log = logging.getLogger(__name__)

T = TypeVar("T")

# Fail-open leases are not in the store: this prefix lets release skip them.
_SYNTHETIC_LEASE_PREFIX = "unreachable:"


class ResilientLimitBackend:
    """A `LimitBackend` that never raises connection errors: while `inner` is unreachable it fails open
    or closed, and it returns to `inner` by itself once a probe call succeeds.

    Fail open: reservations granted, adjustments dropped, spend reads as 0 (and raising it is
    dropped), leases synthetic.
    Fail closed: every reservation, spend check and lease is refused with UNAVAILABLE
    `LIMITS_UNAVAILABLE` (RetryInfo `closed_retry_after_s`), which says what happened: not the
    caller's quota (RATE_LIMITED, BUDGET_EXCEEDED), the gateway's store. Adjustments are dropped.
    Either way nothing is recorded meanwhile, and the store starts afresh from what it held (or,
    after a restart, from empty).
    """

    waits = True  # it is there for a backend that waits (Redis), and probes it

    def __init__(
        self,
        inner: LimitBackend,
        *,
        fail_open: bool,
        on_state_change: Callable[[bool], None] | None = None,
        closed_retry_after_s: float = 5.0,
        probe_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._fail_open = fail_open
        self._closed_retry_after_s = closed_retry_after_s
        failing = "admitting every call (fail-open)" if fail_open else "refusing every call (fail-closed)"
        self.health = BackendHealth(
            "rate-limit",
            failing=failing,
            on_state_change=on_state_change,
            probe_interval_s=probe_interval_s,
            clock=clock,
            logger=_log,  # lines about the limits store keep its logger's name
        )

    async def reserve(self, demands: Sequence[tuple[Bucket, float]]) -> ReserveResult:
        def fallback() -> ReserveResult:
            if self._fail_open or not demands:
                return ReserveResult(True)
            raise self._refusal()

        return await self.health.call(lambda: self._inner.reserve(demands), fallback)

    def _unreachable(self, when_open: Callable[[], T]) -> Callable[[], T]:
        """The fallback of a check while the store is unreachable: `when_open()` failing open, the
        refusal failing closed."""

        def fallback() -> T:
            if self._fail_open:
                return when_open()
            raise self._refusal()

        return fallback

    def _refusal(self) -> GatewayError:
        return GatewayError(
            Reason.LIMITS_UNAVAILABLE,
            "the store of rate limits and budgets is unreachable, and this gateway refuses calls "
            "until it is back (store.fail_open: false)",
            retry_after=self._closed_retry_after_s,
        )

    async def adjust(self, demands: Sequence[tuple[Bucket, float]]) -> None:
        await self.health.call(lambda: self._inner.adjust(demands), lambda: None)

    async def add_spend(self, key: str, amount_usd: float, period_end_epoch_s: float) -> float:
        return await self.health.call(
            lambda: self._inner.add_spend(key, amount_usd, period_end_epoch_s), lambda: 0.0
        )

    async def get_spend(self, key: str) -> float | None:
        # Failing open, 0 rather than None: a counter the store cannot hold is not seeded meanwhile.
        return await self.health.call(lambda: self._inner.get_spend(key), self._unreachable(lambda: 0.0))

    async def raise_spend(self, key: str, floor_usd: float, period_end_epoch_s: float) -> float:
        return await self.health.call(
            lambda: self._inner.raise_spend(key, floor_usd, period_end_epoch_s), lambda: floor_usd
        )

    async def acquire_concurrency(self, key: str, limit: int, lease_s: float) -> str | None:
        return await self.health.call(
            lambda: self._inner.acquire_concurrency(key, limit, lease_s),
            self._unreachable(lambda: _SYNTHETIC_LEASE_PREFIX + secrets.token_hex(8)),
        )

    async def renew_concurrency(self, leases: Sequence[tuple[str, str]], lease_s: float) -> None:
        real = [(key, lease) for key, lease in leases if not lease.startswith(_SYNTHETIC_LEASE_PREFIX)]
        # Dropped while unreachable: a lease the store lost with an outage is not brought back.
        await self.health.call(lambda: self._inner.renew_concurrency(real, lease_s), lambda: None)

    async def release_concurrency(self, key: str, lease: str) -> None:
        if lease.startswith(_SYNTHETIC_LEASE_PREFIX):
            return
        # Dropped while unreachable: the lease then expires on its own after lease_s.
        await self.health.call(lambda: self._inner.release_concurrency(key, lease), lambda: None)
