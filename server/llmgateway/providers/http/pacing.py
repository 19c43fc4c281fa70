"""Stall detection for upstream streams: a time limit between one event and the next.

The wait for the first event is not timed here: the router's first-token timer bounds it, counting
from the request (so an upstream that never answers with its headers stalls too). Pacing starts at
the first event and bounds every gap after it by `between_tokens_s`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from llmgateway.providers.errors import stalled

T = TypeVar("T")


class _StallWatch:
    """One timer for a whole stream, re-armed lazily. `asyncio.timeout` around each wait would
    schedule and cancel a timer per event (with a Timeout object and a task lookup): about 8 µs a
    token on the benchmark machine. Here a wait only notes when it started and in which task; the
    timer, when it fires, re-arms itself for the current wait's deadline unless that has passed,
    and then cancels the waiting task, as asyncio.timeout does. Time the caller spends between
    events (writing a token to a slow client) is never counted."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float) -> None:
        self._loop = loop
        self.limit = limit
        self.expired = False
        self._waiting: asyncio.Task[object] | None = None
        self._since = loop.time()
        self._timer = self._arm(self._since + limit)

    def _arm(self, when: float) -> asyncio.TimerHandle:
        self._armed_for = when
        return self._loop.call_at(when, self._check)

    def wait_started(self, task: asyncio.Task[object]) -> int:
        """A wait for the next event begins in `task`; returns how many cancellation requests
        `task` had before it (asyncio.timeout's bookkeeping, to tell its own from others')."""
        self._waiting, self._since = task, self._loop.time()
        due = self._since + self.limit
        if self.expired or due < self._armed_for:
            # The last wait expired yet ended with an event (or the limit was shortened): set it anew.
            self.expired = False
            self._timer.cancel()
            self._timer = self._arm(due)
        return task.cancelling()

    def wait_ended(self) -> None:
        self._waiting = None

    def _check(self) -> None:
        now = self._loop.time()
        if self._waiting is None:  # between waits: the next cannot expire before a limit from now
            self._timer = self._arm(now + self.limit)
        elif now < self._since + self.limit:
            self._timer = self._arm(self._since + self.limit)
        else:
            self.expired = True
            self._waiting.cancel()

    def close(self) -> None:
        self._timer.cancel()


async def paced(events: AsyncIterator[T], provider: str, between_s: float) -> AsyncGenerator[T, None]:
    """Yield `events`, raising UPSTREAM_STALL when one after the first takes longer than `between_s`
    to come. The first is waited for as long as it takes (the router's first-token timer bounds it)."""
    iterator = aiter(events)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        return
    yield first
    watch = _StallWatch(asyncio.get_running_loop(), between_s)
    # The task that drives the stream from here on (the call's: the gateway never hands a stream
    # between tasks), asked once: asyncio.current_task costs a getpid() system call on Python 3.11
    # (a fork check), 4% of the HTTP door's CPU per relayed token when it was asked every token.
    task = asyncio.current_task()
    assert task is not None  # an async generator is always driven by a task
    try:
        while True:
            cancelled_before = watch.wait_started(task)
            try:
                event = await anext(iterator)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                # As asyncio.timeout decides it: the watch's own cancellation, and no other, is a
                # stall; a cancellation from outside (the caller went away) stays a cancellation.
                if watch.expired and task.uncancel() <= cancelled_before:
                    raise stalled(provider, "token", watch.limit) from None
                raise
            else:
                # An event despite the watch's cancellation (the iterator swallowed it): take the
                # request back, as asyncio.timeout does.
                if watch.expired:
                    task.uncancel()
            finally:
                watch.wait_ended()
            yield event
    finally:
        watch.close()


@asynccontextmanager
async def paced_stream(
    events: AsyncIterator[T], provider: str, between_s: float
) -> AsyncGenerator[AsyncIterator[T], None]:
    """`paced(events, ...)` for an `async for` inside the block, closed (with `events`) when the
    block ends, however it ends. Without this, a stream left early (a terminator, an error, the
    caller going away) leaves suspended generators over the HTTP response for the garbage
    collector, which finalizes them in another task, where closing the response fails."""
    iterator = paced(events, provider, between_s)
    try:
        yield iterator
    finally:
        await iterator.aclose()
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
