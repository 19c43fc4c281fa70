"""Stall detection for upstream streams: a time limit to the first event and between events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from llmgateway.providers.upstream_http import stalled

T = TypeVar("T")


async def paced(
    events: AsyncIterator[T], provider: str, first_s: float, between_s: float
) -> AsyncGenerator[T, None]:
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


@asynccontextmanager
async def paced_stream(
    events: AsyncIterator[T], provider: str, first_s: float, between_s: float
) -> AsyncGenerator[AsyncIterator[T], None]:
    """`paced(events, ...)` for an `async for` inside the block, closed (with `events`) when the
    block ends, however it ends. Without this, a stream left early (a terminator, an error, the
    caller going away) leaves suspended generators over the HTTP response for the garbage
    collector, which finalizes them in another task, where httpx's cleanup fails."""
    iterator = paced(events, provider, first_s, between_s)
    try:
        yield iterator
    finally:
        await iterator.aclose()
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
