"""The bench's reference HTTP relays for the stream-capacity table (bench/STREAMS.md), judged by
the official OpenAI SDK: the aiohttp SSE floor (bench/paced_floor.py) paces its own tokens, each
stamped with the moment it was due, and ends with [DONE]; the SSE passthrough (bench/sse_passthrough.py)
relays an OpenAI upstream's stream unchanged and the SSE forwarder (bench/sse_forwarder.py) re-written."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import openai
import pytest

from bench import paced_floor, sse_forwarder, sse_passthrough
from tests.upstreams.openai import OpenAISimulator

API_KEY = "sk-sim-relay"


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


async def serving(serve: Callable[[int], Coroutine[Any, Any, None]]) -> AsyncIterator[str]:
    port = free_port()
    task = asyncio.get_running_loop().create_task(serve(port))
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        break
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=API_KEY) as simulator:
        yield simulator


async def streamed(base_url: str, model: str, api_key: str = "unused") -> list[str]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "stream please"}], stream=True
        )
        return [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    finally:
        await client.close()


async def test_the_sse_floor_paces_stamped_tokens_and_ends_with_done() -> None:
    started_ns = time.time_ns()
    async for base_url in serving(lambda port: paced_floor.serve_aiohttp_sse("127.0.0.1", port, 5, 0.01)):
        tokens = await streamed(base_url, "paced")
    due = [int(token.removeprefix(" t")) for token in tokens]
    assert len(due) == 5
    assert all(later - earlier == 10_000_000 for earlier, later in itertools.pairwise(due))
    assert started_ns < due[0] <= time.time_ns()


@pytest.mark.parametrize("relay", [sse_passthrough, sse_forwarder], ids=["passthrough", "forwarder"])
async def test_each_relay_relays_the_upstream_stream(sim: OpenAISimulator, relay: Any) -> None:
    async for base_url in serving(lambda port: relay.serve("127.0.0.1", port, f"{sim.base_url}/v1", API_KEY)):
        relayed = await streamed(base_url, "gpt-4o-mini")
    direct = await streamed(f"{sim.base_url}/v1", "gpt-4o-mini", API_KEY)
    assert "".join(relayed) == "".join(direct) != ""
    assert sim.requests[-1].headers.get("authorization") == f"Bearer {API_KEY}"


def test_the_sse_forwarder_re_writes_every_chunk() -> None:
    # Every chunk is re-written from its parsed JSON, not passed on: the per-token work of a relay.
    assert sse_forwarder.rewritten(
        b'{"id":"c","created":1,"model":"m","choices":[{"delta":{"content":"x"}}],"x":1}'
    ) == (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}]}\n\n'
    )
