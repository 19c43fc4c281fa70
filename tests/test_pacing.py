"""Stall detection on upstream streams (providers/http/pacing.py): a limit between events after the
first (the first is the router's first-token timer's), counted only while waiting for the upstream,
told apart from the caller's cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from llmgateway.errors import GatewayError
from llmgateway.providers.http.pacing import _StallWatch, paced


async def events_after(*delays: float) -> AsyncIterator[int]:
    """One event after each delay (seconds from the previous one)."""
    for index, delay in enumerate(delays):
        await asyncio.sleep(delay)
        yield index


async def test_the_wait_for_the_first_event_is_not_timed_here() -> None:
    # The router's first-token timer, counting from the request, bounds it (tests of
    # `stall_before_first_token` in every adapter's suite, and the conformance `stream_stall`).
    events = [event async for event in paced(events_after(0.3, 0.01), "slow", between_s=0.2)]
    assert events == [0, 1]


async def test_a_gap_longer_than_its_limit_is_a_stall_after_the_events_before_it() -> None:
    got: list[int] = []
    started = time.monotonic()
    with pytest.raises(GatewayError) as failure:
        async for event in paced(events_after(0.0, 0.01, 5.0), "slow", between_s=0.2):
            got.append(event)
    assert got == [0, 1]
    assert failure.value.code == grpc.StatusCode.UNAVAILABLE
    assert failure.value.reason == "UPSTREAM_STALL"
    assert failure.value.message == "provider 'slow' sent no token for 0.2s"
    assert 0.2 <= time.monotonic() - started < 2.0


async def test_events_each_within_the_limit_never_stall_however_long_the_stream() -> None:
    # Eight gaps of 0.12 s under a 0.2 s limit: one timer armed at the start and never moved would
    # fire 0.2 s in; the watch re-arms for each wait's own deadline.
    events = [event async for event in paced(events_after(*[0.12] * 8), "p", between_s=0.2)]
    assert events == list(range(8))


async def test_time_the_caller_spends_between_events_is_not_counted() -> None:
    got: list[int] = []
    async for event in paced(events_after(0.0, 0.0, 0.0), "p", between_s=0.2):
        got.append(event)
        await asyncio.sleep(0.5)  # a slow client: the upstream is not waited on meanwhile
    assert got == [0, 1, 2]


async def test_the_callers_cancellation_stays_a_cancellation() -> None:
    stream = paced(events_after(0.0, 5.0), "p", between_s=0.3)
    assert await anext(stream) == 0
    task = asyncio.get_running_loop().create_task(anext(stream))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # And the watch, which would have fired at 0.3 s, is gone with the stream.
    await asyncio.sleep(0.4)
    assert task.cancelled()


async def test_a_stall_leaves_the_task_free_of_the_watchs_cancellation() -> None:
    with pytest.raises(GatewayError):
        async for _ in paced(events_after(0.0, 5.0), "p", between_s=0.05):
            pass
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # and no cancellation is still pending for this task


async def test_closing_the_watch_cancels_its_timer() -> None:
    watch = _StallWatch(asyncio.get_running_loop(), 0.1)
    watch.close()
    assert watch._timer.cancelled()
    await asyncio.sleep(0.2)
    assert not watch.expired
