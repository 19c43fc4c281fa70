"""core/fairness.py: a task that gives the loop back with let_ready_io_run goes on only after the
tasks that the sockets woke meanwhile (a relay whose token arrived) have run, on uvloop (the
gateway's loop) and on asyncio's; one turn of the loop is not enough on either."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from llmgateway.core.fairness import let_ready_io_run

LOOPS = [uvloop.new_event_loop, asyncio.new_event_loop]


async def _relayed_first(give_back: Callable[[], Awaitable[None]]) -> bool:
    """Whether a relay whose token arrives during another task's stretch runs before that task
    goes on after `give_back`."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    relayed = asyncio.Event()

    async def relay() -> None:  # a stream waiting for its next token
        await loop.sock_recv(ours, 16)
        relayed.set()

    waiting = asyncio.create_task(relay())
    await asyncio.sleep(0.01)  # the relay now waits on its socket
    try:
        theirs.send(b"token")  # arrives while a new call's setup runs
        await give_back()
        return relayed.is_set()
    finally:
        await waiting
        ours.close()
        theirs.close()


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_the_relays_woken_meanwhile_run_first(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.run(_relayed_first(let_ready_io_run))


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_one_turn_is_not_enough(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    async def one_turn() -> None:
        await asyncio.sleep(0)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert not runner.run(_relayed_first(one_turn))
