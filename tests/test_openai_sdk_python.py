"""The official `openai` Python SDK judges the OpenAI door: a live gateway on loopback in front of
the simulators of six providers (OpenAI, Azure OpenAI, Anthropic, Gemini, Bedrock — Claude —,
Ollama). Unary and streamed answers with usage, tool calls streamed in fragments and assembled by
the SDK's own stream helper, the tool-result round trip with the SDK's message appended as it is,
JSON-schema output parsed into a pydantic model; and the errors the SDK must raise as their own
classes: RateLimitError with retry-after, AuthenticationError, NotFoundError, an APIError for a
stream that fails midway, and a stream the client abandons closing the upstream call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam
from pydantic import BaseModel

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from tests.conformance.harness import EMBEDDING_MODEL, MODEL
from tests.conftest import StartGateway
from tests.openai_door import (
    SDK_PROVIDERS,
    WEATHER_TOOL,
    door_url,
    provider_config,
    scripted,
    simulator,
)
from tests.upstreams.base import Behaviour, SimulatorServer

Door = Callable[..., Awaitable[tuple[openai.AsyncOpenAI, SimulatorServer, Gateway]]]


TOOL = cast(ChatCompletionFunctionToolParam, WEATHER_TOOL)


class Weather(BaseModel):
    city: str
    temp: float


@pytest.fixture
async def clients() -> AsyncIterator[list[openai.AsyncOpenAI]]:
    """The test's SDK clients, closed after it (their connection pools live on the test's loop)."""
    opened: list[openai.AsyncOpenAI] = []
    yield opened
    for client in opened:
        await client.close()


@pytest.fixture
def door(
    start_gateway: StartGateway,
    provider_simulators: dict[str, SimulatorServer],
    clients: list[openai.AsyncOpenAI],
) -> Door:
    async def open_door(
        provider: str, api_key: str = "unused", **config: Any
    ) -> tuple[openai.AsyncOpenAI, SimulatorServer, Gateway]:
        sim = simulator(provider_simulators, provider)
        gateway = await start_gateway(provider_config(provider, sim.base_url) | config)
        clients.append(sdk_client(gateway, api_key))
        return clients[-1], sim, gateway

    return open_door


def sdk_client(gateway: Gateway, api_key: str) -> openai.AsyncOpenAI:
    # No SDK retries: each test sees the gateway's first answer.
    return openai.AsyncOpenAI(base_url=door_url(gateway), api_key=api_key, max_retries=0, timeout=20)


@pytest.mark.parametrize("provider", SDK_PROVIDERS)
async def test_unary_and_streamed_answers_with_usage(door: Door, provider: str) -> None:
    client, _, _ = await door(provider)
    unary = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello there"}], max_completion_tokens=100
    )
    assert unary.choices[0].message.content == "You said: hello there"
    assert unary.choices[0].finish_reason == "stop"
    assert unary.usage is not None and unary.usage.prompt_tokens > 0 and unary.usage.completion_tokens > 0

    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "one two three"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    received = [chunk async for chunk in stream]
    assert received[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert text == "You said: one two three"
    [usage_chunk] = [c for c in received if c.usage is not None]
    assert usage_chunk is received[-1] and usage_chunk.choices == []
    assert usage_chunk.usage is not None and usage_chunk.usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in received if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]


@pytest.mark.parametrize("provider", SDK_PROVIDERS)
async def test_streamed_tool_calls_and_the_result_round_trip(door: Door, provider: str) -> None:
    client, sim, _ = await door(provider)
    scripted(sim, "tools", provider)
    question: list[ChatCompletionMessageParam] = [{"role": "user", "content": "weather in Paris and Oslo?"}]
    async with client.chat.completions.stream(model=MODEL, messages=question, tools=[TOOL]) as stream:
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None and len(message.tool_calls) == 2
    calls = message.tool_calls
    assert [json.loads(call.function.arguments)["city"] for call in calls] == ["Paris", "Oslo"]
    assert len({call.id for call in calls}) == 2

    # The assistant message goes back exactly as the SDK handed it over.
    results: list[ChatCompletionMessageParam] = [
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp": 20 + i})}
        for i, call in enumerate(calls)
    ]
    answer = await client.chat.completions.create(
        model=MODEL,
        tools=[TOOL],
        messages=[*question, message, *results],  # type: ignore[list-item]
    )
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content
    sent = json.dumps(sim.requests[-1].body)
    assert all(str(20 + i) in sent for i in range(2)), "both results reached the provider"


@pytest.mark.parametrize("provider", SDK_PROVIDERS)
async def test_json_schema_output_parsed_by_the_sdk(door: Door, provider: str) -> None:
    client, sim, _ = await door(provider)
    scripted(sim, "json", provider)
    completion = await client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "the weather in Paris"}], response_format=Weather
    )
    assert completion.choices[0].message.parsed == Weather(city="Paris", temp=21)
    assert "city" in json.dumps(sim.requests[-1].body), "the schema reached the provider"


REFUSAL = "I can't help with that."


@pytest.mark.parametrize("provider", ["openai", "azure_openai"])
async def test_a_refusal_reaches_the_sdk_as_refusal(door: Door, provider: str) -> None:
    client, sim, _ = await door(provider)
    sim.enqueue(Behaviour(refusal=REFUSAL), Behaviour(refusal=REFUSAL))
    completion = await client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "the weather in Paris"}], response_format=Weather
    )
    [choice] = completion.choices
    assert (choice.message.refusal, choice.message.parsed, choice.message.content) == (REFUSAL, None, None)
    assert choice.finish_reason == "stop", "OpenAI ends a refusal with stop"
    async with client.chat.completions.stream(
        model=MODEL, messages=[{"role": "user", "content": "the weather in Paris"}], response_format=Weather
    ) as stream:
        refusal_events = [event async for event in stream if event.type == "refusal.delta"]
        final = await stream.get_final_completion()
    assert refusal_events, "the refusal streams as delta.refusal"
    assert final.choices[0].message.refusal == REFUSAL and final.choices[0].message.parsed is None


@pytest.mark.parametrize("provider", SDK_PROVIDERS)
async def test_an_earlier_refusal_goes_back_as_the_protocol_can(door: Door, provider: str) -> None:
    """The SDK's refusal message appended as it is (content None, `refusal` set, or a refusal
    content part) is taken, and reaches the provider: OpenAI's own `refusal` field, text elsewhere."""
    client, sim, _ = await door(provider)
    for refused in (
        {"role": "assistant", "content": None, "refusal": REFUSAL},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": REFUSAL}]},
    ):
        messages = [
            {"role": "user", "content": "the weather in Paris"},
            refused,
            {"role": "user", "content": "then tell me a joke"},
        ]
        sim.requests.clear()
        completion = await client.chat.completions.create(
            model=MODEL, messages=cast(list[ChatCompletionMessageParam], messages)
        )
        assert completion.choices[0].message.content
        body = sim.requests[-1].body
        if provider in ("openai", "azure_openai"):
            assert body["messages"][1] == {"role": "assistant", "content": None, "refusal": REFUSAL}
        else:
            assert REFUSAL in json.dumps(body), f"{provider}: the refusal did not reach the provider"


@pytest.mark.parametrize(
    ("provider", "finish"), [("gemini", "content_filter"), ("bedrock", "content_filter")]
)
async def test_a_content_filter_is_finish_reason_content_filter(
    door: Door, provider: str, finish: str
) -> None:
    client, sim, _ = await door(provider)
    sim.enqueue(Behaviour(refusal=REFUSAL))
    completion = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "something filtered"}]
    )
    assert completion.choices[0].finish_reason == finish


class GetWeather(BaseModel):
    city: str


@pytest.mark.parametrize("provider", SDK_PROVIDERS)
async def test_strict_pydantic_tools_are_honoured_or_refused(door: Door, provider: str) -> None:
    client, sim, _ = await door(provider)
    sim.enqueue(Behaviour(tool_calls=[("GetWeather", '{"city": "Paris"}')]))
    ask = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[openai.pydantic_function_tool(GetWeather)],  # strict: true
    )
    if provider in ("gemini", "bedrock", "ollama"):  # no strict tool mode: refused, not dropped
        with pytest.raises(openai.BadRequestError) as raised:
            await ask
        assert raised.value.code == "unsupported_capability"
        assert sim.requests == []
        return
    completion = await ask
    [call] = completion.choices[0].message.tool_calls or []
    assert call.function.parsed_arguments == GetWeather(city="Paris")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "bedrock"])
async def test_an_upstream_rate_limit_raises_rate_limit_error_with_retry_after(
    door: Door, provider: str
) -> None:
    client, sim, _ = await door(provider)
    scripted(sim, "rate_limit", provider)
    with pytest.raises(openai.RateLimitError) as raised:
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.code == "upstream_rate_limited"
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )


async def test_authentication_and_not_found_errors(door: Door, clients: list[openai.AsyncOpenAI]) -> None:
    key, key_id, key_hash = new_key()
    client, _, gateway = await door(
        "gemini", auth={"enabled": True, "keys": [{"id": key_id, "hash": key_hash, "tenant": "t"}]}
    )
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    keyed = sdk_client(gateway, key)
    clients.append(keyed)
    with pytest.raises(openai.NotFoundError) as raised:
        await keyed.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.code == "model_not_found"
    assert [m.id async for m in keyed.models.list()] == [MODEL, EMBEDDING_MODEL]
    assert (await keyed.models.retrieve(MODEL)).id == MODEL


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "bedrock"])
async def test_a_stream_failing_midway_makes_the_sdk_raise(door: Door, provider: str) -> None:
    client, sim, _ = await door(provider)
    scripted(sim, "mid_stream", provider)
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = ""
    with pytest.raises(openai.APIError) as raised:
        async for chunk in stream:
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert text == "one two"
    assert raised.value.code == "stream_interrupted"


@pytest.mark.parametrize("provider", ["openai", "bedrock"])
async def test_a_stream_the_client_abandons_closes_the_upstream_call(door: Door, provider: str) -> None:
    client, sim, _ = await door(provider)
    scripted(sim, "cancel", provider)
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    await sim.wait_for_disconnects(1)
