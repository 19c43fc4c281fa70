"""A shutdown drains the HTTP doors with the gRPC side: no new connections once it starts, streams
in flight finish within the grace, and a stream still running at its end is cut with an error
event that says so (never a bare connection drop), through real HTTP on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from llmgateway.app import Gateway
from tests.conftest import gateway_config
from tests.upstreams.openai import Behaviour, OpenAISimulator

HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}


def config(sim: OpenAISimulator, grace_s: float) -> dict[str, Any]:
    return {
        "server": {"http_listen": "127.0.0.1:0", "drain_s": 0, "grace_s": grace_s},
        "providers": [{"name": "sim", "type": "openai", "base_url": sim.base_url}],
        "models": [{"name": "slow", "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}],
    }


def body(words: int) -> bytes:
    text = " ".join(["word"] * words)
    return orjson.dumps(
        {"model": "slow", "max_tokens": 500, "stream": True, "messages": [{"role": "user", "content": text}]}
    )


async def events(response: httpx.Response) -> list[str]:
    """The event names of a Messages stream, as they arrive."""
    return [
        line.removeprefix("event: ") async for line in response.aiter_lines() if line.startswith("event: ")
    ]


@pytest.fixture
def sim() -> Any:
    with OpenAISimulator(api_key=None) as simulator:
        yield simulator


async def test_a_stream_in_flight_finishes_and_new_connections_are_refused(sim: OpenAISimulator) -> None:
    sim.behaviour = Behaviour(inter_token=0.05)  # 12 words: about 0.6 s
    gateway = Gateway(gateway_config(config(sim, grace_s=5)))
    await gateway.start()
    url = f"http://127.0.0.1:{gateway.http_port}/v1/messages"
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("POST", url, content=body(12), headers=HEADERS) as response,
    ):
        assert response.status_code == 200
        stopping = asyncio.create_task(gateway.shutdown())
        await asyncio.sleep(0.1)
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient(timeout=2) as late:
                await late.post(url, content=body(1), headers=HEADERS)
        names = await events(response)
    await stopping
    assert names[-1] == "message_stop" and "error" not in names


async def test_a_stream_still_running_at_the_end_of_the_grace_gets_an_error_event(
    sim: OpenAISimulator,
) -> None:
    sim.behaviour = Behaviour(inter_token=0.2)  # 40 words: 8 s, far past the grace
    gateway = Gateway(gateway_config(config(sim, grace_s=1.5)))
    await gateway.start()
    url = f"http://127.0.0.1:{gateway.http_port}/v1/messages"
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("POST", url, content=body(40), headers=HEADERS) as response,
    ):
        assert response.status_code == 200
        stopping = asyncio.create_task(gateway.shutdown())
        lines = [line async for line in response.aiter_lines()]
    await stopping
    error = [orjson.loads(line.removeprefix("data: ")) for line in lines if '"type":"error"' in line]
    assert error, lines[-6:]
    assert "shutting down" in error[0]["error"]["message"]
    assert not any(line == "event: message_stop" for line in lines)
    await sim.wait_for_disconnects(1)  # the upstream call was closed too
