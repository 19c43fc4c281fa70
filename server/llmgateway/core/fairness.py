"""Giving the event loop back between the long stretches of a stream's setup and end, so the
streams already relaying are not held up by them.

A new stream's setup — the request parsed and validated, the key checked, limits admitted, the
cache looked up, a deployment chosen, the upstream request built and written — runs as one stretch
of the event loop of about 1.3 ms (with a pooled upstream connection nothing in it waits; worst
6.6 ms), and its end with the call's settlement as another of about 0.9 ms. Every token that
arrives on another stream meanwhile waits for the stretch to end: at 25 new streams a second (100
streams of 200 tokens at 50 tokens/s) that is what stretched the gaps between tokens, more than the
CPU did (bench/STREAMS.md, 2026-12-07). Cut in two at each place, the added gap p99 at 80 streams
went from 2.2 to 2.9 ms to 1.9 to 2.0 ms in four interleaved rounds each.
"""

from __future__ import annotations

import asyncio

# Turns of the loop the caller waits: uvloop runs the ready queue, then polls the sockets and queues
# the tasks whose data arrived, so the caller, queued before that poll, must go round twice to come
# after them; asyncio's own loop polls first but wakes a task a turn after its socket's callback
# set its future, so it needs three. Each turn costs the caller a few µs, twice per stream.
_TURNS = 3


async def let_ready_io_run() -> None:
    """Return once what became ready while the calling task ran (tokens that arrived on other
    streams' sockets) has been served. One `sleep(0)` is not enough: the caller would go on before
    the tasks its own stretch held up (tests/test_fairness.py shows both)."""
    for _ in range(_TURNS):
        await asyncio.sleep(0)
