"""Prompt caching through the OpenAI door, judged by the official `openai` SDK: `prompt_cache_key`
reaches OpenAI, a repeated long prompt reports `prompt_tokens_details.cached_tokens` (unary and in
the usage chunk of a stream) and costs less the second time; Azure, which caches on its own too,
reports its cached tokens without being sent the key its dated api-versions refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from llmgateway.app import Gateway
from tests.conformance.harness import HARNESSES, MODEL
from tests.conftest import StartGateway
from tests.openai_door import door_url, provider_config, simulator
from tests.upstreams.base import SimulatorServer

LONG = " ".join(f"word{i}" for i in range(1500))
# The long part in the system prompt: the simulator echoes the user's message, which stays short.
PROMPT: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": LONG},
    {"role": "user", "content": "hi"},
]


@pytest.fixture
async def sdk_clients() -> AsyncIterator[list[openai.AsyncOpenAI]]:
    opened: list[openai.AsyncOpenAI] = []
    yield opened
    for client in opened:
        await client.close()


async def open_door(
    provider: str,
    start_gateway: StartGateway,
    simulators: dict[str, SimulatorServer],
    clients: list[openai.AsyncOpenAI],
) -> tuple[openai.AsyncOpenAI, SimulatorServer, Gateway]:
    sim = simulator(simulators, provider)
    gateway = await start_gateway(provider_config(provider, sim.base_url))
    clients.append(
        openai.AsyncOpenAI(base_url=door_url(gateway), api_key="unused", max_retries=0, timeout=20)
    )
    return clients[-1], sim, gateway


def cost(gateway: Gateway, provider: str) -> float:
    labels = {"model": MODEL, "provider": HARNESSES[provider].provider_name}
    return gateway.metrics.registry.get_sample_value("llmgateway_cost_usd_total", labels) or 0.0


@pytest.mark.parametrize("provider", ["openai", "azure_openai"])
async def test_a_repeated_long_prompt_reports_cached_tokens_and_costs_less(
    provider: str,
    start_gateway: StartGateway,
    provider_simulators: dict[str, SimulatorServer],
    sdk_clients: list[openai.AsyncOpenAI],
) -> None:
    client, sim, gateway = await open_door(provider, start_gateway, provider_simulators, sdk_clients)
    costs, cached = [], []
    for _ in range(2):
        before = cost(gateway, provider)
        answer = await client.chat.completions.create(
            model=MODEL, messages=PROMPT, prompt_cache_key="tenant-7"
        )
        costs.append(cost(gateway, provider) - before)
        assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
        cached.append(answer.usage.prompt_tokens_details.cached_tokens)
    assert cached == [0, 1408]
    assert 0 < costs[1] < costs[0]
    sent = sim.requests[-1].body
    if provider == "openai":
        assert sent["prompt_cache_key"] == "tenant-7"
    else:
        assert "prompt_cache_key" not in sent


async def test_the_stream_usage_chunk_reports_cached_tokens(
    start_gateway: StartGateway,
    provider_simulators: dict[str, SimulatorServer],
    sdk_clients: list[openai.AsyncOpenAI],
) -> None:
    client, _, _ = await open_door("openai", start_gateway, provider_simulators, sdk_clients)
    cached = []
    for _ in range(2):
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=PROMPT,
            stream=True,
            stream_options={"include_usage": True},
        )
        usage = [chunk.usage async for chunk in stream if chunk.usage is not None]
        assert len(usage) == 1 and usage[0].prompt_tokens_details is not None
        cached.append(usage[0].prompt_tokens_details.cached_tokens)
    assert cached == [0, 1408]


async def test_a_prompt_cache_key_that_is_not_a_string_is_a_400(
    start_gateway: StartGateway,
    provider_simulators: dict[str, SimulatorServer],
    sdk_clients: list[openai.AsyncOpenAI],
) -> None:
    client, sim, _ = await open_door("openai", start_gateway, provider_simulators, sdk_clients)
    with pytest.raises(openai.BadRequestError) as raised:
        await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"prompt_cache_key": 42},
        )
    assert raised.value.param == "prompt_cache_key"
    assert not sim.requests
