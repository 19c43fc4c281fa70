"""Readiness follows whether any route is usable (breakers, active probes); liveness never
depends on providers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest

from llmgateway.app import READINESS_SERVICE, Gateway
from tests.conftest import Client, StartGateway, chat_request, user
from tests.test_lifecycle import NOT_SERVING, SERVING, health_status
from tests.upstreams.openai import Behaviour, OpenAISimulator

FAST = {"readiness_interval_s": 0.05}


async def wait_for(channel: grpc.aio.Channel, service: str, status: int, timeout: float = 3) -> None:
    async with asyncio.timeout(timeout):
        while await health_status(channel, service) != status:
            await asyncio.sleep(0.02)


async def test_readiness_follows_the_breakers(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    with OpenAISimulator(api_key=None) as sim:
        config = {
            "server": FAST,
            "providers": [{"name": "p", "type": "openai", "base_url": sim.base_url}],
            "models": [{"name": "m", "deployments": [{"provider": "p", "model": "gpt-4o-mini"}]}],
            "routing": {"retry": {"max_retries": 0}, "breaker": {"consecutive_failures": 1, "open_s": 0.5}},
        }
        client = connect(await start_gateway(config))
        await wait_for(client.channel, READINESS_SERVICE, SERVING)
        sim.behaviour = Behaviour(status=503)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        await wait_for(client.channel, READINESS_SERVICE, NOT_SERVING)
        assert await health_status(client.channel, "") == SERVING, "liveness never depends on providers"
        # Once the open period ends the breaker lets probes through: a route is usable again.
        await wait_for(client.channel, READINESS_SERVICE, SERVING)


async def test_failing_probes_steer_calls_and_readiness(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    with OpenAISimulator(api_key="right") as sim:
        probe = {"interval_s": 0.05, "timeout_s": 1}
        config = {
            "server": FAST,
            "providers": [
                # Its probe (the model list) fails: the key is wrong.
                {
                    "name": "sick",
                    "type": "openai",
                    "base_url": sim.base_url,
                    "api_key": "wrong",
                    "health_check": probe,
                },
                {
                    "name": "well",
                    "type": "openai",
                    "base_url": sim.base_url,
                    "api_key": "right",
                    "health_check": probe,
                },
            ],
            "models": [
                {
                    "name": "m",
                    "deployments": [
                        {"provider": "sick", "model": "gpt-4o-mini", "weight": 100},
                        {"provider": "well", "model": "gpt-4o-mini", "weight": 1},
                    ],
                }
            ],
        }
        client = connect(await start_gateway(config))
        async with asyncio.timeout(3):
            while not any(
                r.path == "/v1/models" and r.headers.get("authorization") == "Bearer wrong"
                for r in sim.requests
            ):
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        for _ in range(5):
            call = client.chat.Chat(chat_request("m", user("hi")), timeout=5)
            await call
            metadata = dict(await call.trailing_metadata() or ())
            assert metadata["x-llmgateway-provider"] == "well"
            assert metadata["x-llmgateway-attempts"] == "1", "the sick provider was not even tried"


async def test_readiness_off_when_every_provider_fails_its_probe(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    config = {
        "server": FAST,
        "providers": [
            {
                "name": "gone",
                "type": "vllm",
                "base_url": "http://127.0.0.1:9",
                "health_check": {"interval_s": 0.05},
            }
        ],
        "models": [{"name": "m", "deployments": [{"provider": "gone", "model": "x"}]}],
    }
    client = connect(await start_gateway(config))
    await wait_for(client.channel, READINESS_SERVICE, NOT_SERVING)
    assert await health_status(client.channel, "") == SERVING
