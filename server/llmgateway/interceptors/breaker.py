"""A guard (interceptors/guards.py) that fails fast when every deployment that could serve the
requested model has an open breaker: UNAVAILABLE with RetryInfo, without touching the network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from llmgateway.errors import GatewayError, shown
from llmgateway.interceptors.handlers import Context, is_chat_method
from llmgateway.reasons import Reason


class BreakerGuard:
    """Checks the requested model's breakers before the call reaches the servicer.

    `open_until(model)` answers seconds until a probe is allowed when all candidates are open,
    else None; it is the router's, passed in so this guard knows nothing of routing."""

    def __init__(self, open_until: Callable[[str], float | None]) -> None:
        self._open_until = open_until

    def applies_to(self, method: str) -> bool:
        return is_chat_method(method)

    async def enter(self, request: Any, context: Context) -> None:
        model = getattr(request, "model", "")
        retry_in = self._open_until(model) if isinstance(model, str) and model else None
        if retry_in is not None:
            raise GatewayError(
                grpc.StatusCode.UNAVAILABLE,
                Reason.BREAKER_OPEN,
                f"every deployment that can serve model {shown(model)!r} is failing; not calling them for now",
                metadata={"model": shown(model)},
                retry_after=max(retry_in, 0.001),
            )

    async def leave(self, entered: object) -> None:
        """Nothing to undo."""
