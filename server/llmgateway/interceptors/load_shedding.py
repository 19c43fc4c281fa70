"""Load shedding, a guard (interceptors/guards.py): past `max_concurrent_calls` chat calls in
flight, new ones are refused at once with UNAVAILABLE and RetryInfo, never queued without bound."""

from __future__ import annotations

from typing import Any

import grpc

from llmgateway.errors import GatewayError
from llmgateway.interceptors.handlers import Context, is_chat_method
from llmgateway.reasons import Reason

_RETRY_AFTER_S = 1.0


def _overloaded(limit: int) -> GatewayError:
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        Reason.OVERLOADED,
        f"the gateway is at its limit of {limit} concurrent calls; retry shortly",
        retry_after=_RETRY_AFTER_S,
    )


class LoadSheddingGuard:
    """Counts chat calls in flight and refuses those beyond the limit."""

    def __init__(self, max_concurrent_calls: int) -> None:
        self._limit = max_concurrent_calls
        self.in_flight = 0

    def applies_to(self, method: str) -> bool:
        return is_chat_method(method)

    async def enter(self, request: Any, context: Context) -> bool:
        if self.in_flight >= self._limit:
            raise _overloaded(self._limit)
        self.in_flight += 1
        return True

    async def leave(self, entered: object) -> None:
        self.in_flight -= 1
