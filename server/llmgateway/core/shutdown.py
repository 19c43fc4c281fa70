"""Calls still running when a shutdown's grace runs out end with a status that says so.

grpc.aio's own end of the grace cancels every call with a bare UNAVAILABLE "Cancelling all calls",
which the gateway would record as CANCELLED, with a stream's partial usage lost. Shortly before
that, the gateway cuts its chat calls itself: each call's task is cancelled and marked, and the
servicer and the stream relay turn that cancellation into UNAVAILABLE `SHUTTING_DOWN` (a stream
that had sent content: `STREAM_INTERRUPTED` with cause `SHUTTING_DOWN` and the partial usage),
charged and logged like any other failure.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from llmgateway.errors import GatewayError
from llmgateway.reasons import Reason

_cut: weakref.WeakSet[asyncio.Task[object]] = weakref.WeakSet()


class InFlightCalls:
    """The chat calls of one gateway still running, to be cut at the end of a shutdown's grace."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def add(self) -> asyncio.Task[object] | None:
        """Track the current task's call until `discard`; None when not in a task (nothing to cut)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        return task

    def discard(self, task: asyncio.Task[object] | None) -> None:
        if task is not None:
            self._tasks.discard(task)

    def cut_all(self) -> int:
        """Cut every call still running; how many were."""
        for task in self._tasks:
            _cut.add(task)
            task.cancel(Reason.SHUTTING_DOWN)
        return len(self._tasks)


@contextmanager
def cut_as_error() -> Iterator[None]:
    """Within it, a shutdown's cut of this call raises UNAVAILABLE SHUTTING_DOWN instead of the
    cancellation (which is withdrawn: the call goes on to end with the error); any other
    cancellation passes as it is."""
    try:
        yield
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or task not in _cut:
            raise
        _cut.discard(task)
        task.uncancel()
        raise _shutting_down() from None


def _shutting_down() -> GatewayError:
    return GatewayError(
        Reason.SHUTTING_DOWN,
        "the gateway is shutting down; the call was cut at the end of its grace period",
        retry_after=0.1,
    )
