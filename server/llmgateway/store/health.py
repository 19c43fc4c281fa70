"""Whether a shared store (Redis) is reachable, told by the outcome of each call: its callers get
their fallback at once while it is not, and it is probed back into service."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.exceptions

_log = logging.getLogger(__name__)

T = TypeVar("T")

# What "the store is unreachable" looks like; anything else (a script error, a bad reply) is a bug and
# propagates. BusyLoadingError (Redis restarting) is a ConnectionError; TimeoutError is an OSError.
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


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
