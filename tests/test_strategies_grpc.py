"""Each strategy's choices through real gRPC calls (seeded randomness): which deployment served is
read from the response metadata."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.upstreams.openai import Behaviour, OpenAISimulator


def echo_model(strategy: str, *deployments: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": [{"name": name, "type": "echo"} for name in ("e1", "e2", "e3")],
        "models": [{"name": "m", "strategy": strategy, "deployments": list(deployments)}],
    }


async def served(client: Client, n: int, **fields: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        call = client.chat.Chat(chat_request("m", user("hi"), **fields), timeout=5)
        await call
        counts[str(dict(await call.trailing_metadata() or ())["x-llmgateway-provider"])] += 1
    return counts


async def test_weighted(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    config = echo_model(
        "weighted",
        {"provider": "e1", "model": "x", "weight": 6},
        {"provider": "e2", "model": "x", "weight": 3},
        {"provider": "e3", "model": "x", "weight": 1},
    )
    client = connect(await start_gateway(config))
    assert await served(client, 50) == {"e1": 30, "e2": 15, "e3": 5}


async def test_round_robin(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    config = echo_model("round_robin", *({"provider": p, "model": "x"} for p in ("e1", "e2", "e3")))
    client = connect(await start_gateway(config))
    assert await served(client, 30) == {"e1": 10, "e2": 10, "e3": 10}


async def test_cost(start_gateway: StartGateway, connect: Callable[[Gateway], Client]) -> None:
    config = echo_model(
        "cost",
        {"provider": "e1", "model": "x", "input_price_per_mtok": 3.0, "output_price_per_mtok": 15.0},
        {"provider": "e2", "model": "x", "input_price_per_mtok": 0.15, "output_price_per_mtok": 0.6},
        {"provider": "e3", "model": "x", "input_price_per_mtok": 1.0, "output_price_per_mtok": 1.0},
    )
    client = connect(await start_gateway(config))
    assert await served(client, 10) == {"e2": 10}


async def test_cost_without_configured_prices_uses_what_the_gateway_charges(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = echo_model(
        "cost",
        {"provider": "e1", "model": "in-house-model"},  # no known price: last, not free
        {"provider": "e2", "model": "gpt-4o"},  # built-in table: 2.50 / 10.00
        {"provider": "e3", "model": "gpt-4o-mini"},  # built-in table: 0.15 / 0.60
    )
    client = connect(await start_gateway(config))
    assert await served(client, 10) == {"e3": 10}


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[OpenAISimulator, OpenAISimulator]]:
    with OpenAISimulator(api_key=None) as slow, OpenAISimulator(api_key=None) as fast:
        yield slow, fast


def sim_model(strategy: str, slow: OpenAISimulator, fast: OpenAISimulator) -> dict[str, Any]:
    timeouts = {"first_token_s": 0.3, "between_tokens_s": 0.3}
    return {
        "providers": [
            {"name": "slow", "type": "openai", "base_url": slow.base_url, "timeouts": timeouts},
            {"name": "fast", "type": "openai", "base_url": fast.base_url, "timeouts": timeouts},
        ],
        "models": [
            {
                "name": "m",
                "strategy": strategy,
                "deployments": [
                    {"provider": "slow", "model": "gpt-4o-mini"},
                    {"provider": "fast", "model": "gpt-4o-mini"},
                ],
            }
        ],
        "routing": {"retry": {"max_retries": 0}},
    }


async def test_latency_learns_the_faster_deployment(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    sims: tuple[OpenAISimulator, OpenAISimulator],
) -> None:
    slow, fast = sims
    slow.reset()
    fast.reset()
    slow.behaviour = Behaviour(latency=0.08)
    client = connect(await start_gateway(sim_model("latency", slow, fast)))
    counts = await served(client, 20)
    # Each is measured at most once or twice while unmeasured; after that the faster one wins.
    assert counts["fast"] >= 17


async def test_a_stall_feeds_the_latency_strategy(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    sims: tuple[OpenAISimulator, OpenAISimulator],
) -> None:
    slow, fast = sims
    slow.reset()
    fast.reset()
    slow.behaviour = Behaviour(stall_after=0)
    client = connect(await start_gateway(sim_model("latency", slow, fast)))
    providers = []
    for _ in range(6):
        call = client.chat.ChatStream(stream_request("m", user("hi")), timeout=5)
        async for _ in call:
            pass
        providers.append(dict(await call.trailing_metadata() or ())["x-llmgateway-provider"])
    assert providers.count("fast") == 6, "a stalled attempt fails over, then its time steers calls away"
    stalled_attempts = [r for r in slow.requests if r.method == "POST"]
    assert len(stalled_attempts) <= 1


async def test_least_in_flight(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    sims: tuple[OpenAISimulator, OpenAISimulator],
) -> None:
    slow, fast = sims
    slow.reset()
    fast.reset()
    slow.behaviour = Behaviour(inter_token=0.05)
    fast.behaviour = Behaviour(inter_token=0.05)
    client = connect(await start_gateway(sim_model("least_in_flight", slow, fast)))
    first = client.chat.ChatStream(stream_request("m", user("w " * 20)), timeout=10)
    opening = await first.read()
    assert isinstance(opening, chat_pb2.ChatStreamResponse)
    busy = opening.provider  # the report in the trailers comes only at the end
    second = await served(client, 3)
    assert busy not in second, "every new call went to the idle deployment"
    first.cancel()
    await asyncio.sleep(0)


async def test_cost_prices_a_glob_deployment_for_the_requested_model(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = {
        "providers": [{"name": name, "type": "echo"} for name in ("e1", "e2")],
        "models": [
            {
                "name": "*",
                "strategy": "cost",
                "deployments": [
                    {"provider": "e1", "model": "{model}"},
                    {"provider": "e2", "model": "gpt-4o"},
                ],
            }
        ],
    }
    client = connect(await start_gateway(config))

    async def provider_for(model: str) -> str:
        call = client.chat.Chat(chat_request(model, user("hi")), timeout=5)
        await call
        return str(dict(await call.trailing_metadata() or ())["x-llmgateway-provider"])

    # gpt-4o-mini (0.15/0.60) is cheaper than the fixed gpt-4o (2.50/10.00); sonnet (3/15) is not.
    assert {await provider_for("gpt-4o-mini") for _ in range(10)} == {"e1"}
    assert {await provider_for("claude-sonnet-4-5") for _ in range(10)} == {"e2"}
