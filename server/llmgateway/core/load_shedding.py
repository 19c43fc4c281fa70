"""Load shedding: past `max_concurrent_calls` chat calls in flight, new ones are refused at once
with UNAVAILABLE and RetryInfo, never queued without bound."""

from __future__ import annotations

from llmgateway.errors import GatewayError
from llmgateway.reasons import Reason

_RETRY_AFTER_S = 1.0


class LoadShedder:
    """Counts chat calls in flight and refuses those beyond the limit."""

    def __init__(self, max_concurrent_calls: int) -> None:
        self._limit = max_concurrent_calls
        self.in_flight = 0

    def enter(self) -> None:
        """Take a place, or raise OVERLOADED; every successful `enter` needs its `leave`."""
        if self.in_flight >= self._limit:
            raise GatewayError(
                Reason.OVERLOADED,
                f"the gateway is at its limit of {self._limit} concurrent calls; retry shortly",
                retry_after=_RETRY_AFTER_S,
            )
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
