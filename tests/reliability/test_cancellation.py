"""Cancellation and deadlines under load: 1,000 concurrent streams against a slow upstream, each
cancelled by the caller or cut by its deadline at a random (seeded) point, or left to finish.

Afterwards every upstream request either completed or was disconnected by the gateway (none is
left open), the in-flight gauge is back to 0, no asyncio task or socket is left behind, and the
process's live allocations do not grow from round to round (see leaks.growth_per_round for why
allocations and a slope, not RSS)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2_grpc
from tests.conftest import StartGateway, stream_request, user
from tests.reliability.conftest import drain_logs, register_secret
from tests.reliability.leaks import growth_per_round, rss_bytes, settle_to, settle_until, snapshot
from tests.upstreams.base import Behaviour
from tests.upstreams.openai import OpenAISimulator

# Alone, after the parallel part of the suite (Makefile: pytest).
pytestmark = pytest.mark.serial
KEY = "sk-reliability-cancel-0123456789"
register_secret("cancellation provider key", KEY)
STREAMS = 1000
CHANNELS = 8
WORDS = 14  # at 50 ms a token: a stream takes ~0.7 s when left alone
SEED = 20261127
# One round to bring pools, caches and the HTTP pool to their working size, then the rounds whose
# growth is judged.
WARMUP_ROUNDS = 1
MEASURED_ROUNDS = 5
# Growth per round of 1,000 streams allowed in objects the collector tracks and in live allocator
# blocks (sys.getallocatedblocks: every small allocation, strings and buffers included), as slopes
# over the measured rounds with the pool emptied (below). Measured without a leak: objects within
# ±300 a round; blocks within ±700 on a quiet machine, up to +2,200 with a second `make test`
# running beside (strings and buffers held a while by timers, the span processor and free lists).
# So objects catch any leak that keeps a container or an instance per stream (1,000 a round);
# blocks catch leaks of small untracked values (strings, bytes, protobuf messages) from about
# three per stream; one such value per stream is below what this test can tell from load.
OBJECTS_PER_ROUND = 500
BLOCKS_PER_ROUND = 3000
# Idle keep-alive connections are not a leak, but each is ~230 live objects and ~450 blocks on the
# two ends (the gateway's aiohttp protocol, transport, parser and buffers; the simulator's), and how
# many stay pooled after a round varies by tens with the machine's load. The pool lets them go this
# soon after a round, so every round is measured with none.
KEEPALIVE_EXPIRY_S = 0.3


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=KEY) as sim:
        yield sim


def config(base_url: str) -> dict[str, object]:
    return {
        "providers": [
            {
                "name": "slow",
                "type": "openai",
                "base_url": base_url,
                "api_key": KEY,
                "max_connections": STREAMS + 100,
                "keepalive_expiry_s": KEEPALIVE_EXPIRY_S,
                "timeouts": {"first_token_s": 10, "between_tokens_s": 10, "total_s": 30},
            }
        ],
        "models": [
            {
                "name": "slow",
                "deployments": [
                    {"provider": "slow", "model": "gpt-4o-mini", "limits": {"max_in_flight": STREAMS + 100}}
                ],
            }
        ],
        "routing": {"max_concurrent_calls": STREAMS + 100, "retry": {"max_retries": 0}},
        "observability": {"access_log": False},
    }


def in_flight(gateway: Gateway) -> float:
    total = 0.0
    for metric in gateway.metrics.in_flight.collect():
        for sample in metric.samples:
            total += sample.value
    return total


async def one_stream(
    stub: chat_pb2_grpc.ChatServiceAsyncStub, rng: random.Random, text: str
) -> tuple[str, grpc.StatusCode]:
    """One stream, left to finish or ended at a random point: a caller's cancel from the start
    (often before any token), a cancel after the first token (the upstream is mid-stream), or a
    deadline."""
    mode = rng.choice(["cancel", "cancel_mid", "deadline", "finish"])
    point = rng.uniform(0.0, 1.2)
    timeout = point + 0.05 if mode == "deadline" else 120.0
    call = stub.ChatStream(stream_request("slow", user(text)), timeout=timeout)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in call:
            first.set()

    reader = asyncio.ensure_future(consume())
    if mode == "cancel":
        await asyncio.wait({reader}, timeout=point)
        call.cancel()
    elif mode == "cancel_mid":
        waiter = asyncio.ensure_future(first.wait())
        await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await asyncio.wait({reader}, timeout=point / 4)
        call.cancel()
    with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
        await reader
    return mode, await call.code()


async def round_of_streams(
    gateway: Gateway, sim: OpenAISimulator, rng: random.Random
) -> tuple[Counter[tuple[str, str]], float]:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") for _ in range(CHANNELS)]
    stubs = [chat_pb2_grpc.ChatServiceStub(channel) for channel in channels]
    text = " ".join(f"w{i}" for i in range(WORDS - 2))  # "You said:" adds two chunks
    started = time.monotonic()
    try:
        results = await asyncio.gather(*(one_stream(stubs[i % CHANNELS], rng, text) for i in range(STREAMS)))
    finally:
        for channel in channels:
            await channel.close()
    return Counter((mode, code.name) for mode, code in results), time.monotonic() - started


@pytest.mark.timeout(240)  # six rounds of 1,000 streams, slower on a loaded machine
async def test_thousand_streams_cancelled_or_timed_out(
    slow_upstream: OpenAISimulator, start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    sim = slow_upstream
    sim.reset()
    sim.behaviour = Behaviour(inter_token=0.05)
    port = int(sim.base_url.rsplit(":", 1)[1])
    gateway = await start_gateway(config(sim.base_url))
    rng = random.Random(SEED)

    allowed = {("cancel", "CANCELLED"), ("cancel", "OK"), ("cancel_mid", "CANCELLED"), ("cancel_mid", "OK"),
               ("deadline", "DEADLINE_EXCEEDED"), ("deadline", "OK"), ("finish", "OK")}  # fmt: skip
    blocks: list[int] = []
    objects: list[int] = []
    baseline = None
    for round_no in range(WARMUP_ROUNDS + MEASURED_ROUNDS):
        before_requests = len(sim.requests)
        before_done = sim.completed + sim.disconnects
        outcomes, took = await round_of_streams(gateway, sim, rng)
        unexpected = {k: v for k, v in outcomes.items() if k not in allowed}
        assert not unexpected, f"round {round_no}: unexpected outcomes {unexpected} (all: {outcomes})"
        assert (
            outcomes[("cancel_mid", "CANCELLED")] > 150 and outcomes[("deadline", "DEADLINE_EXCEEDED")] > 150
        )
        # Every upstream request ends: completed, or disconnected by the gateway (cancellation and
        # deadlines reach the upstream); none is left running.
        requests = len(sim.requests) - before_requests
        deadline = time.monotonic() + 10
        while sim.completed + sim.disconnects - before_done < requests and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert sim.completed + sim.disconnects - before_done == requests
        assert sim.disconnects > 0
        wait_until = time.monotonic() + 5
        while in_flight(gateway) and time.monotonic() < wait_until:
            await asyncio.sleep(0.02)
        assert in_flight(gateway) == 0
        # Cancellations and deadlines are expected events: nothing about them is an error.
        errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [], f"round {round_no}: {len(errors)} records at ERROR, first {errors[0]}"
        drain_logs(caplog)
        # The simulator's record of the requests is the test's memory, not the gateway's.
        sim.requests.clear()
        gc.collect()
        now = snapshot(port)
        # Whatever the gateway still holds towards the upstream is idle keep-alive, and the
        # simulator holds exactly the other ends: no half-closed or orphaned connection.
        assert now.to_port == now.at_port
        if baseline is None:
            baseline = now
        else:
            settled = await settle_to(baseline, port, timeout=5)
            # Idle keep-alive connections to the upstream (both ends are ours) may differ in number;
            # everything else must be back where it was.
            assert settled.tasks <= baseline.tasks, f"tasks: {baseline} -> {settled}"
            assert settled.sockets - settled.to_port - settled.at_port <= (
                baseline.sockets - baseline.to_port - baseline.at_port
            ), f"sockets: {baseline} -> {settled}"
        idle = await settle_until(lambda s: s.to_port == s.at_port == 0, port, timeout=10)
        assert idle.to_port == idle.at_port == 0, f"the pool kept idle connections: {idle}"
        gc.collect()
        blocks.append(sys.getallocatedblocks())
        objects.append(len(gc.get_objects()))
        print(f"round {round_no}: {took:.1f}s {dict(outcomes)} blocks={blocks[-1]} objects={objects[-1]} "
              f"rss={rss_bytes() >> 20} MiB (not judged) upstream requests={requests} "
              f"disconnects={sim.disconnects} sockets={now}")  # fmt: skip
    measured = slice(WARMUP_ROUNDS, None)
    block_growth = growth_per_round(blocks[measured])
    object_growth = growth_per_round(objects[measured])
    summary = f"blocks {blocks}, objects {objects}"
    assert block_growth < BLOCKS_PER_ROUND, f"{block_growth:.0f} more allocated blocks a round: {summary}"
    assert object_growth < OBJECTS_PER_ROUND, f"{object_growth:.0f} more live objects a round: {summary}"
    # The gateway closes its pool on shutdown: then the upstream holds no connection at all.
    await gateway.shutdown()
    until = time.monotonic() + 5
    while snapshot(port).at_port and time.monotonic() < until:
        await asyncio.sleep(0.02)
    assert snapshot(port).at_port == 0
