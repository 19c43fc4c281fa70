"""Prompt caching through a real gateway over gRPC: v1 cache breakpoints reach Anthropic as
cache_control and Bedrock as cachePoint, OpenAI caches on its own (prompt_cache_key passed through),
Usage reports cache reads and writes apart, and a repeated long prompt costs less the second time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from llmgateway.app import Gateway
from llmgateway.config.ledger import sqlite_url
from llmgateway.v1 import chat_pb2, content_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.ledger_rows import rows_when_settled
from tests.rich_status import rich_status
from tests.upstreams.anthropic import AnthropicSimulator
from tests.upstreams.bedrock import BedrockSimulator
from tests.upstreams.gemini import GeminiSimulator
from tests.upstreams.openai import OpenAISimulator

LONG = " ".join(f"word{i}" for i in range(1500))  # 1,500 tokens in the simulators' counting
ANTHROPIC_KEY = "sk-ant-sim-test"
BEDROCK_KEY_ID, BEDROCK_SECRET = "AKIDSIMULATOR", "sim-secret-0123456789abcdef"
OPENAI_KEY = "sk-sim-test"
FIVE_MINUTES = content_pb2.CacheBreakpoint()
ONE_HOUR = content_pb2.CacheBreakpoint(ttl=duration_pb2.Duration(seconds=3600))


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]]:
    with (
        AnthropicSimulator(api_key=ANTHROPIC_KEY) as anthropic,
        BedrockSimulator(BEDROCK_KEY_ID, BEDROCK_SECRET, "us-east-1") as bedrock,
        OpenAISimulator(api_key=OPENAI_KEY) as openai,
    ):
        yield anthropic, bedrock, openai


@pytest.fixture
def sims(
    simulators: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator],
) -> tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]:
    for sim in simulators:
        sim.reset()
    return simulators


def caching_config(anthropic: str, bedrock: str, openai: str) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "claude-main", "type": "anthropic", "base_url": anthropic, "api_key": ANTHROPIC_KEY},
            {
                "name": "bedrock-main",
                "type": "bedrock",
                "base_url": bedrock,
                "region": "us-east-1",
                "aws_access_key_id": BEDROCK_KEY_ID,
                "aws_secret_access_key": BEDROCK_SECRET,
            },
            {"name": "oa", "type": "openai", "base_url": openai, "api_key": OPENAI_KEY},
        ],
        "models": [
            {"name": "claude", "deployments": [{"provider": "claude-main", "model": "claude-sonnet-4-5"}]},
            {
                "name": "bedrock-claude",
                "deployments": [
                    {"provider": "bedrock-main", "model": "anthropic.claude-sonnet-4-5-20250929-v1:0"}
                ],
            },
            {"name": "gpt", "deployments": [{"provider": "oa", "model": "gpt-4o-mini"}]},
            {
                "name": "bedrock-llama",
                "deployments": [{"provider": "bedrock-main", "model": "meta.llama3-1-8b-instruct-v1:0"}],
            },
        ],
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def client(
    sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator],
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
) -> Client:
    anthropic, bedrock, openai = sims
    return connect(await start_gateway(caching_config(anthropic.base_url, bedrock.base_url, openai.base_url)))


def system(text: str, breakpoint_: content_pb2.CacheBreakpoint | None = None) -> content_pb2.Message:
    message = content_pb2.Message(role=content_pb2.ROLE_SYSTEM, parts=[content_pb2.Part(text=text)])
    if breakpoint_ is not None:
        message.cache_breakpoint.CopyFrom(breakpoint_)
    return message


def cached_prompt(model: str, ttl: content_pb2.CacheBreakpoint = FIVE_MINUTES) -> chat_pb2.ChatRequest:
    return chat_request(model, system(LONG, ttl), user("hi"))


def per_million(tokens: int, price: float) -> float:
    return tokens * price / 1_000_000


# Claude Sonnet 4.5: $3 input, $15 output; reads 0.1x, writes 1.25x (5 minutes) and 2x (1 hour).
SONNET_OUTPUT = per_million(3, 15.0)  # "You said: hi"


@pytest.mark.parametrize("model", ["claude", "bedrock-claude"])
async def test_a_repeated_long_prompt_writes_then_reads_the_cache_and_costs_less(
    client: Client, model: str
) -> None:
    first = (await client.chat.Chat(cached_prompt(model))).usage
    second = (await client.chat.Chat(cached_prompt(model))).usage
    assert (first.input_tokens, first.cache_write_input_tokens, first.cached_input_tokens) == (1501, 1500, 0)
    assert (second.input_tokens, second.cache_write_input_tokens, second.cached_input_tokens) == (
        1501,
        0,
        1500,
    )
    assert first.cost_usd == pytest.approx(per_million(1, 3.0) + per_million(1500, 3.75) + SONNET_OUTPUT)
    assert second.cost_usd == pytest.approx(per_million(1, 3.0) + per_million(1500, 0.30) + SONNET_OUTPUT)
    assert second.cost_usd < first.cost_usd / 5


@pytest.mark.parametrize("model", ["claude", "bedrock-claude"])
async def test_stream_usage_carries_cache_writes_then_reads(client: Client, model: str) -> None:
    usages = []
    for _ in range(2):
        request = stream_request(model, system(LONG, FIVE_MINUTES), user("hi"))
        messages = [message async for message in client.chat.ChatStream(request)]
        usages.append(messages[-1].usage)
    assert (usages[0].cache_write_input_tokens, usages[0].cached_input_tokens) == (1500, 0)
    assert (usages[1].cache_write_input_tokens, usages[1].cached_input_tokens) == (0, 1500)
    assert usages[0].input_tokens == usages[1].input_tokens == 1501
    assert usages[1].cost_usd == pytest.approx(per_million(1, 3.0) + per_million(1500, 0.30) + SONNET_OUTPUT)


async def test_one_hour_writes_are_charged_at_the_one_hour_rate(
    client: Client, sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]
) -> None:
    usage = (await client.chat.Chat(cached_prompt("claude", ONE_HOUR))).usage
    assert sims[0].requests[-1].body["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert usage.cache_write_input_tokens == 1500
    assert usage.cost_usd == pytest.approx(per_million(1, 3.0) + per_million(1500, 6.0) + SONNET_OUTPUT)


def mixed_lifetimes() -> tuple[content_pb2.Message, ...]:
    """A 1-hour breakpoint after the system prompt, a 5-minute one after a second long message: the
    layout Anthropic recommends for a stable prefix and a moving conversation."""
    conversation = user(LONG.replace("word", "turn"))
    conversation.cache_breakpoint.CopyFrom(FIVE_MINUTES)
    return system(LONG, ONE_HOUR), conversation, user("hi")


@pytest.mark.parametrize("model", ["claude", "bedrock-claude"])
@pytest.mark.parametrize("stream", [False, True])
async def test_writes_of_mixed_lifetimes_are_each_charged_at_their_own_rate(
    client: Client, model: str, stream: bool
) -> None:
    if stream:
        messages = client.chat.ChatStream(stream_request(model, *mixed_lifetimes()))
        usage = [message async for message in messages][-1].usage
    else:
        usage = (await client.chat.Chat(chat_request(model, *mixed_lifetimes()))).usage
    assert usage.HasField("cache_write_1h_input_tokens")
    one_hour, writes = usage.cache_write_1h_input_tokens, usage.cache_write_input_tokens
    assert one_hour == 1500 < writes, "the system prompt at 1 hour, the conversation at 5 minutes"
    uncached = usage.input_tokens - writes - usage.cached_input_tokens
    expected = (
        per_million(uncached, 3.0)
        + per_million(one_hour, 6.0)
        + per_million(writes - one_hour, 3.75)
        + per_million(usage.output_tokens, 15.0)
    )
    assert usage.cost_usd == pytest.approx(expected)
    # Before the split, every write was charged at the 1-hour rate.
    assert usage.cost_usd < expected + per_million(writes - one_hour, 6.0 - 3.75) - 1e-9


async def test_the_ledger_keeps_how_cache_writes_split_by_lifetime(
    sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator],
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    tmp_path: Path,
) -> None:
    """A call whose provider broke its cache writes down by lifetime has the 1-hour part in its
    ledger row; one whose provider gave no breakdown (OpenAI writes no cache it reports) has none,
    not a zero it never said."""
    anthropic, bedrock, openai = sims
    url = sqlite_url(tmp_path / "ledger.db")
    config = caching_config(anthropic.base_url, bedrock.base_url, openai.base_url)
    client = connect(await start_gateway({**config, "ledger": {"url": url, "flush_interval_s": 0.05}}))
    for model in ("claude", "bedrock-claude"):
        await client.chat.Chat(chat_request(model, *mixed_lifetimes()))
    [message async for message in client.chat.ChatStream(stream_request("claude", *mixed_lifetimes()))]
    await client.chat.Chat(cached_prompt("gpt"))
    rows = await rows_when_settled(url, 4)
    by_model = [
        (row["provider"], row["cache_write_input_tokens"], row["cache_write_1h_input_tokens"]) for row in rows
    ]
    # The stream repeats the first call's prompt: read from the cache, nothing written, which the
    # provider's breakdown says (0), unlike OpenAI, which says nothing (None).
    assert by_model == [
        ("claude-main", 3000, 1500),
        ("bedrock-main", 3000, 1500),
        ("claude-main", 0, 0),
        ("oa", 0, None),
    ]


async def test_openai_caches_a_repeated_prompt_on_its_own_and_it_costs_less(
    client: Client, sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]
) -> None:
    # A breakpoint changes nothing at OpenAI (not sent); the cache key goes through as a label.
    request = chat_request(
        "gpt",
        system(LONG, FIVE_MINUTES),
        user("hi"),
        generation_config=chat_pb2.GenerationConfig(prompt_cache_key="t-1"),
    )
    first = (await client.chat.Chat(request)).usage
    second = (await client.chat.Chat(request)).usage
    body = sims[2].requests[-1].body
    assert body["prompt_cache_key"] == "t-1"
    assert "cache_control" not in str(body)
    assert (first.cached_input_tokens, second.cached_input_tokens) == (0, 1408)
    assert second.cache_write_input_tokens == 0
    # gpt-4o-mini: $0.15 input, cached input half that, $0.60 output.
    output = per_million(second.output_tokens, 0.60)
    assert second.cost_usd == pytest.approx(per_million(93, 0.15) + per_million(1408, 0.075) + output)
    assert second.cost_usd < first.cost_usd


async def test_breakpoints_land_on_the_marked_blocks(
    client: Client, sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]
) -> None:
    tool = content_pb2.Tool(name="lookup", description="Look it up")
    tool.cache_breakpoint.CopyFrom(ONE_HOUR)
    marked_part = content_pb2.Part(text="first", cache_breakpoint=FIVE_MINUTES)
    question = content_pb2.Message(
        role=content_pb2.ROLE_USER,
        parts=[marked_part, content_pb2.Part(text="second")],
        cache_breakpoint=FIVE_MINUTES,
    )
    for model in ("claude", "bedrock-claude"):
        await client.chat.Chat(chat_request(model, system("rules", ONE_HOUR), question, tools=[tool]))
    anthropic = sims[0].requests[-1].body
    assert anthropic["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert anthropic["system"] == [
        {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    assert anthropic["messages"][0]["content"] == [
        {"type": "text", "text": "first", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "second", "cache_control": {"type": "ephemeral"}},
    ]
    bedrock = sims[1].requests[-1].body
    assert bedrock["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert bedrock["system"] == [{"text": "rules"}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert bedrock["messages"][0]["content"] == [
        {"text": "first"},
        {"cachePoint": {"type": "default"}},
        {"text": "second"},
        {"cachePoint": {"type": "default"}},
    ]


@pytest.mark.parametrize("model", ["claude", "bedrock-claude"])
async def test_a_fifth_breakpoint_is_refused_before_any_call(
    client: Client, model: str, sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]
) -> None:
    parts = [content_pb2.Part(text=f"part {i}", cache_breakpoint=FIVE_MINUTES) for i in range(5)]
    request = chat_request(model, content_pb2.Message(role=content_pb2.ROLE_USER, parts=parts))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.chat.Chat(request)
    status = rich_status(raised.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 4 cache breakpoints" in status.message
    assert not sims[0].requests and not sims[1].requests


async def test_a_one_hour_breakpoint_after_a_five_minute_one_is_refused_for_anthropic(
    client: Client, sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]
) -> None:
    request = chat_request("claude", system("a", FIVE_MINUTES), system("b", ONE_HOUR), user("hi"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.chat.Chat(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1-hour cache breakpoints before 5-minute ones" in (raised.value.details() or "")
    assert not sims[0].requests


@pytest.mark.parametrize("seconds", [600, 1, -300])
async def test_a_lifetime_no_provider_keeps_is_refused_at_the_edge(
    client: Client, seconds: int, sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]
) -> None:
    ttl = content_pb2.CacheBreakpoint(ttl=duration_pb2.Duration(seconds=seconds))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.chat.Chat(cached_prompt("gpt", ttl))
    status = rich_status(raised.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    violations = status.detail(error_details_pb2.BadRequest).field_violations
    assert [v.field for v in violations] == ["messages[0].cache_breakpoint.ttl"]
    assert not sims[2].requests


async def test_breakpoints_are_not_sent_to_a_bedrock_model_without_prompt_caching(
    client: Client, sims: tuple[AnthropicSimulator, BedrockSimulator, OpenAISimulator]
) -> None:
    # Llama on Bedrock refuses cachePoint blocks; a breakpoint does not change the answer, so it is left out.
    usage = (await client.chat.Chat(cached_prompt("bedrock-llama"))).usage
    assert "cachePoint" not in str(sims[1].requests[-1].body)
    assert (usage.cache_write_input_tokens, usage.cached_input_tokens) == (0, 0)


async def test_a_too_short_prefix_is_not_cached(client: Client) -> None:
    for _ in range(2):
        usage = (
            await client.chat.Chat(chat_request("claude", system("short rules", FIVE_MINUTES), user("hi")))
        ).usage
        assert (usage.cache_write_input_tokens, usage.cached_input_tokens) == (0, 0)


async def test_gemini_implicit_caching_reports_cached_tokens_and_costs_less(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    with GeminiSimulator(api_key="sim-gemini-key") as sim:
        config = {
            "providers": [
                {"name": "g", "type": "gemini", "base_url": sim.base_url, "api_key": "sim-gemini-key"}
            ],
            "models": [{"name": "gemini", "deployments": [{"provider": "g", "model": "gemini-2.5-flash"}]}],
        }
        client = connect(await start_gateway(config))
        # A breakpoint changes nothing at Gemini (implicit caching only): it is not sent.
        first = (await client.chat.Chat(cached_prompt("gemini"))).usage
        second = (await client.chat.Chat(cached_prompt("gemini"))).usage
        assert "cache" not in str(sim.requests[-1].body).lower()
    assert (first.cached_input_tokens, second.cached_input_tokens) == (0, 1408)
    assert second.input_tokens == 1501 and second.cache_write_input_tokens == 0
    # Gemini 2.5 Flash: $0.30 input, cached input 0.1x, $2.50 output.
    output = per_million(second.output_tokens, 2.50)
    assert second.cost_usd == pytest.approx(per_million(93, 0.30) + per_million(1408, 0.03) + output)
    assert second.cost_usd < first.cost_usd
