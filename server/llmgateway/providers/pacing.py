"""Stall detection for upstream streams: a time limit to the first event and between events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

from llmgateway.providers.upstream_http import stalled

T = TypeVar("T")


async def paced(
    events: AsyncIterator[T], provider: str, first_s: float, between_s: float
) -> AsyncIterator[T]:
    """Yield `events`, raising UPSTREAM_STALL when the first one takes longer than `first_s`
    or a later one longer than `between_s`. asyncio.timeout is used rather than wait_for so no
    task is created per event."""
    limit, what = first_s, "first token"
    iterator = aiter(events)
    while True:
        try:
            async with asyncio.timeout(limit):
                event = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise stalled(provider, what, limit) from None
        yield event
        limit, what = between_s, "token"
