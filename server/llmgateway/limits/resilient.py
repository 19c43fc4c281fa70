"""Keep serving when the shared limits store is unreachable: fail open or closed, report state changes."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
import redis.exceptions

from llmgateway.errors import GatewayError
from llmgateway.limits.backend import Bucket, LimitBackend, ReserveResult
from llmgateway.reasons import Reason

_log = logging.getLogger(__name__)

T = TypeVar("T")

# What "the store is unreachable" looks like; anything else (a script error, a bad reply) is a bug and
# propagates. BusyLoadingError (Redis restarting) is a ConnectionError; TimeoutError is an OSError.
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)

# Fail-open leases are not in the store: this prefix lets release skip them.
_SYNTHETIC_LEASE_PREFIX = "unreachable:"


class BackendHealth:
    """Whether a backend is reachable, told by the outcome of each call; speaks only on a change.

    While unreachable, callers get their fallback at once, except one call per `probe_interval_s` that
    tries the backend again: a hung Redis costs one timeout per interval rather than one per call, and
    the first probe that succeeds restores service with no restart. A call's outcome changes the state
    only if the call began after the last change, so a slow call that started before an outage (or
    before a recovery) cannot flip the state back and make the log flap.
    """

    def __init__(
        self,
        name: str,
        *,
        failing: str,
        on_state_change: Callable[[bool], None] | None = None,
        probe_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = _log,
    ) -> None:
        self._name = name
        self._failing = failing  # what callers get meanwhile, for the warning line
        self._on_state_change = on_state_change
        self._probe_interval_s = probe_interval_s
        self._clock = clock
        self._log = logger
        self._healthy = True
        self._epoch = 0  # counts state changes
        self._next_probe = 0.0

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def call(self, operation: Callable[[], Awaitable[T]], fallback: Callable[[], T]) -> T:
        """`operation()`, or `fallback()` when the backend is (or just became) unreachable."""
        if not self._may_try():
            return fallback()
        epoch = self._epoch
        try:
            result = await operation()
        except UNREACHABLE_ERRORS as error:
            self._change(False, epoch, error)
            return fallback()
        self._change(True, epoch, None)
        return result

    def _may_try(self) -> bool:
        if self._healthy:
            return True
        now = self._clock()
        if now < self._next_probe:
            return False
        self._next_probe = now + self._probe_interval_s  # claimed before awaiting: one probe at a time
        return True

    def _change(self, healthy: bool, epoch: int, error: BaseException | None) -> None:
        if healthy == self._healthy or epoch != self._epoch:
            return
        self._healthy = healthy
        self._epoch += 1
        if healthy:
            self._log.info("%s backend reachable again", self._name)
        else:
            self._next_probe = self._clock() + self._probe_interval_s
            self._log.warning(
                "%s backend unreachable (%s: %s); %s until it returns",
                self._name,
                type(error).__name__,
                error,
                self._failing,
            )
        if self._on_state_change is not None:
            self._on_state_change(healthy)


class ResilientLimitBackend:
    """A `LimitBackend` that never raises connection errors: while `inner` is unreachable it fails open
    or closed, and it returns to `inner` by itself once a probe call succeeds.

    Fail open: reservations granted, adjustments dropped, spend reads as 0, leases synthetic.
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
            grpc.StatusCode.UNAVAILABLE,
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

    async def get_spend(self, key: str) -> float:
        return await self.health.call(lambda: self._inner.get_spend(key), self._unreachable(lambda: 0.0))

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

    async def aclose(self) -> None:
        await self._inner.aclose()
