"""A bulkhead per deployment: at most `max_in_flight` calls, a bounded wait for a slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class BulkheadFullError(Exception):
    """No slot came free within the wait; the caller moves on to the next candidate."""


class Bulkhead:
    """Limits concurrent calls to one deployment."""

    def __init__(self, max_in_flight: int, max_wait_s: float) -> None:
        self._slots = asyncio.Semaphore(max_in_flight)
        self._max_wait_s = max_wait_s
        self.in_flight = 0

    async def acquire(self) -> None:
        """Take a slot, waiting at most `max_wait_s`; BulkheadFullError when none came free."""
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._max_wait_s):
                    await self._slots.acquire()
            except TimeoutError:
                raise BulkheadFullError from None
        else:
            await self._slots.acquire()
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the duration of the block, or raise BulkheadFullError."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()
