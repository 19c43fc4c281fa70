"""The caller's deadline bounds every upstream call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from llmgateway.errors import GatewayError, deadline_exceeded
from llmgateway.reasons import Code, Reason


def cancellation_code(remaining: float | None) -> Code:
    """The status of a call whose task was cancelled, given the seconds its caller had left: grpc.aio
    cancels the call's task both when the caller cancels and when its deadline passes, and the
    caller saw DEADLINE_EXCEEDED in the second case."""
    return Code.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else Code.CANCELLED


def deadline_of(remaining: float | None, now: float, total_s: float) -> float:
    """The call's deadline on the router's clock: the caller's (`remaining` seconds from now), or
    `total_s` from now."""
    return now + (total_s if remaining is None else min(remaining, total_s))


@asynccontextmanager
async def bounded_by_deadline(remaining: float | None, total_s: float) -> AsyncIterator[None]:
    """Cancel the work inside when the caller's deadline (`remaining` seconds from now; None: none)
    or, sooner, `total_s` passes.

    Cancelling the task closes the upstream HTTP request at once, so no tokens are paid for an
    answer nobody will read.
    """
    callers_deadline = remaining is not None and remaining <= total_s
    try:
        async with asyncio.timeout(remaining if callers_deadline else total_s):
            yield
    except TimeoutError:
        if callers_deadline:
            raise deadline_exceeded("while waiting for the provider") from None
        raise GatewayError(
            Reason.UPSTREAM_TIMEOUT,
            f"the call did not finish within {total_s:g}s (routing.max_call_s)",
        ) from None
