"""Backoff delays and the retry budget."""

from __future__ import annotations

import random
from collections import deque

from llmgateway.config import RetrySettings
from llmgateway.resilience.clock import Clock


def backoff_delay(
    retry: int, settings: RetrySettings, rng: random.Random, retry_after: float | None
) -> float:
    """Delay before retry number `retry` (0-based): full jitter over an exponential ceiling, but
    never shorter than the upstream's Retry-After."""
    ceiling = min(settings.max_delay_s, settings.base_delay_s * settings.multiplier**retry)
    delay = rng.uniform(0.0, ceiling)
    return max(delay, retry_after or 0.0)


class RetryBudget:
    """Retries may add at most `budget_ratio` of the recent request rate (plus a small floor), so
    during an outage retries cannot multiply the load on a failing upstream."""

    def __init__(self, settings: RetrySettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _prune(self, now: float) -> None:
        horizon = now - self._settings.budget_window_s
        for events in (self._requests, self._retries):
            while events and events[0] < horizon:
                events.popleft()

    def record_request(self) -> None:
        now = self._clock.now()
        self._prune(now)
        self._requests.append(now)

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is used up."""
        now = self._clock.now()
        self._prune(now)
        allowed = (
            self._settings.budget_ratio * len(self._requests)
            + self._settings.min_retries_per_s * self._settings.budget_window_s
        )
        if len(self._retries) + 1 > allowed:
            return False
        self._retries.append(now)
        return True
