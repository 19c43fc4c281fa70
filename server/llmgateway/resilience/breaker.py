"""A circuit breaker per deployment: closed → open → half-open → closed.

It opens on `consecutive_failures` failures in a row, or when at least `min_calls` calls in the last
`window_s` seconds failed at `failure_rate` or more. Open, it refuses calls for `open_s` (or the
upstream's Retry-After, if longer); then half-open, it lets `half_open_probes` calls through and
closes when all of them succeed, or opens again on the first failure. Errors caused by the caller
are neither successes nor failures.
"""

from __future__ import annotations

import enum
from collections import deque

from llmgateway.config import BreakerSettings
from llmgateway.resilience.clock import Clock


class BreakerState(enum.IntEnum):
    """Values are those of the llmgateway_breaker_state gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """The breaker of one deployment."""

    def __init__(self, settings: BreakerSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._outcomes: deque[tuple[float, bool]] = deque()  # (time, failed)
        self._consecutive_failures = 0
        self._open_until = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock.now() >= self._open_until:
            self._state = BreakerState.HALF_OPEN
            self._probes_in_flight = 0
            self._probe_successes = 0
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(self._open_until - self._clock.now(), 0.0)

    def would_allow(self) -> bool:
        """Whether a call could go through now, without reserving a probe."""
        state = self.state
        if state is BreakerState.OPEN:
            return False
        return state is BreakerState.CLOSED or self._probes_in_flight < self._settings.half_open_probes

    def acquire(self) -> bool:
        """Ask to make a call; in half-open this reserves one of the probe slots."""
        if not self.would_allow():
            return False
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight += 1
        return True

    def record_success(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(self._probes_in_flight - 1, 0)
            self._probe_successes += 1
            if self._probe_successes >= self._settings.half_open_probes:
                self._close()
            return
        self._consecutive_failures = 0
        self._add(failed=False)

    def record_failure(self, retry_after: float | None = None) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._open(retry_after)
            return
        self._consecutive_failures += 1
        self._add(failed=True)
        calls = len(self._outcomes)
        failures = sum(1 for _, failed in self._outcomes if failed)
        if self._consecutive_failures >= self._settings.consecutive_failures or (
            calls >= self._settings.min_calls and failures / calls >= self._settings.failure_rate
        ):
            self._open(retry_after)

    def record_neutral(self) -> None:
        """A call that ended with the caller's own error: it says nothing about the deployment."""
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(self._probes_in_flight - 1, 0)

    def _add(self, *, failed: bool) -> None:
        now = self._clock.now()
        self._outcomes.append((now, failed))
        horizon = now - self._settings.window_s
        while self._outcomes and self._outcomes[0][0] < horizon:
            self._outcomes.popleft()

    def _open(self, retry_after: float | None) -> None:
        self._state = BreakerState.OPEN
        self._open_until = self._clock.now() + max(self._settings.open_s, retry_after or 0.0)
        self._outcomes.clear()
        self._consecutive_failures = 0

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._outcomes.clear()
        self._consecutive_failures = 0
