"""Prompt caching through the Anthropic door, judged by the official SDK: cache_control on system
blocks, content blocks and tools reaches the provider (Anthropic cache_control, Bedrock cachePoint),
usage reports cache writes then reads (unary, and message_delta in streams), and the second call
costs less."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from llmgateway.app import Gateway
from tests.anthropic_door.conftest import PROVIDERS, OpenSdk, Sims, door_config
from tests.conftest import StartGateway

# 4,200 tokens in the simulators' counting: past Claude Haiku 4.5's 4,096-token minimum.
LONG = " ".join(f"word{i}" for i in range(4200))


def cached_system() -> list[anthropic.types.TextBlockParam]:
    return [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]


def cost(gateway: Gateway, model: str) -> float:
    labels = {"model": model, "provider": PROVIDERS[model]}
    return gateway.metrics.registry.get_sample_value("llmgateway_cost_usd_total", labels) or 0.0


@pytest.fixture
async def gateway(sims: Sims, start_gateway: StartGateway) -> Gateway:
    return await start_gateway(door_config(sims))


@pytest.mark.parametrize("model", ["claude", "nova"])
async def test_a_repeated_marked_prompt_is_written_then_read_and_costs_less(
    gateway: Gateway, sdk: OpenSdk, sims: Sims, model: str
) -> None:
    client = sdk(gateway)
    costs, usages = [], []
    for _ in range(2):
        before = cost(gateway, model)
        answer = await client.messages.create(
            model=model, max_tokens=50, system=cached_system(), messages=[{"role": "user", "content": "hi"}]
        )
        costs.append(cost(gateway, model) - before)
        usages.append(answer.usage)
    first, second = usages
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (4200, 0)
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (0, 4200)
    assert first.input_tokens == second.input_tokens == 1, "Anthropic's input_tokens leaves the cache out"
    assert 0 < costs[1] < costs[0]
    if model == "claude":
        sent = sims.anthropic.requests[-1].body["system"][0]
        assert sent["cache_control"] == {"type": "ephemeral"}
    else:
        assert sims.bedrock.requests[-1].body["system"][1] == {"cachePoint": {"type": "default"}}


async def test_usage_breaks_cache_writes_down_by_lifetime(gateway: Gateway, sdk: OpenSdk) -> None:
    """A 1-hour breakpoint on the system prompt and a 5-minute one on the conversation: the Message's
    usage says how the writes split (`cache_creation`), as the API's does."""
    conversation: anthropic.types.TextBlockParam = {
        "type": "text",
        "text": LONG.replace("word", "turn"),
        "cache_control": {"type": "ephemeral"},
    }
    answer = await sdk(gateway).messages.create(
        model="claude",
        max_tokens=50,
        system=[{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=[{"role": "user", "content": [conversation]}],
    )
    usage = answer.usage
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == 4200
    assert (
        usage.cache_creation.ephemeral_5m_input_tokens == (usage.cache_creation_input_tokens or 0) - 4200 > 0
    )


async def test_stream_message_delta_reports_cache_reads(gateway: Gateway, sdk: OpenSdk) -> None:
    client = sdk(gateway)
    finals = []
    for _ in range(2):
        async with client.messages.stream(
            model="claude",
            max_tokens=50,
            system=cached_system(),
            messages=[{"role": "user", "content": "hi"}],
        ) as stream:
            finals.append((await stream.get_final_message()).usage)
    assert (finals[0].cache_creation_input_tokens, finals[0].cache_read_input_tokens) == (4200, 0)
    assert (finals[1].cache_creation_input_tokens, finals[1].cache_read_input_tokens) == (0, 4200)
    assert finals[1].input_tokens == 1


async def test_cache_control_on_tools_and_content_blocks_reaches_anthropic(
    gateway: Gateway, sdk: OpenSdk, sims: Sims
) -> None:
    tool: anthropic.types.ToolParam = {
        "name": "lookup",
        "input_schema": {"type": "object"},
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
    await sdk(gateway).messages.create(
        model="claude",
        max_tokens=50,
        tools=[tool],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "the question", "cache_control": {"type": "ephemeral"}}],
            }
        ],
    )
    body = sims.anthropic.requests[-1].body
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize(
    ("control", "param"),
    [
        ({"type": "persistent"}, "system.0.cache_control.type"),
        ({"type": "ephemeral", "ttl": "2h"}, "system.0.cache_control.ttl"),
        ({"type": "ephemeral", "scope": "global"}, "system.0.cache_control.scope"),
    ],
)
async def test_malformed_cache_control_is_a_400_naming_it(
    gateway: Gateway, sdk: OpenSdk, sims: Sims, control: dict[str, Any], param: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk(gateway).messages.create(
            model="claude",
            max_tokens=50,
            system=[{"type": "text", "text": "x", "cache_control": control}],  # type: ignore[typeddict-item]
            messages=[{"role": "user", "content": "hi"}],
        )
    assert raised.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert raised.value.body["error"]["message"].startswith(param)  # type: ignore[index]
    assert not sims.anthropic.requests


async def test_a_fifth_cache_control_is_a_400(gateway: Gateway, sdk: OpenSdk, sims: Sims) -> None:
    blocks: list[anthropic.types.TextBlockParam] = [
        {"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(5)
    ]
    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk(gateway).messages.create(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": blocks}]
        )
    assert "at most 4 cache breakpoints" in raised.value.body["error"]["message"]  # type: ignore[index]
    assert not sims.anthropic.requests
