"""Which asyncio event loop serves: uvloop (libuv, written in Cython) unless the config says asyncio.

The gateway's main thread does all of its work: gRPC callbacks, upstream sockets and timers all go
through the loop, so a cheaper loop lowers the CPU time of every call (bench/RESULTS.md has the
figure). `asyncio` stays available for debugging and for platforms without uvloop wheels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
EventLoopKind = Literal["uvloop", "asyncio"]


def loop_factory(kind: EventLoopKind) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "uvloop":
        import uvloop  # noqa: PLC0415 (only when chosen)

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], kind: EventLoopKind) -> T:
    """asyncio.run on the chosen loop (asyncio.Runner: Python 3.11's asyncio.run has no loop_factory)."""
    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        return runner.run(main)
