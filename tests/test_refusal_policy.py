"""Refusals and content filters as a policy: by default a declining answer is the caller's answer;
with `refused` / `content_filtered` in a model's `fallback_on`, it sends the call on to the next
deployment and the fallback models (unary, and streams whose first content declines), and the last
refusal still comes back when nobody answers otherwise. Real gRPC to a gateway in front of real
simulators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.upstreams.anthropic import AnthropicSimulator
from tests.upstreams.base import Behaviour
from tests.upstreams.gemini import GeminiSimulator
from tests.upstreams.openai import OpenAISimulator

KEY = "sk-policy-sim-0123456789abcdef"
REFUSAL = "I can't help with that."


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[OpenAISimulator, AnthropicSimulator, GeminiSimulator]]:
    with (
        OpenAISimulator(api_key=KEY) as openai_sim,
        AnthropicSimulator(api_key=KEY) as anthropic_sim,
        GeminiSimulator(api_key=KEY) as gemini_sim,
    ):
        yield openai_sim, anthropic_sim, gemini_sim


@pytest.fixture
def openai_sim(sims: tuple[OpenAISimulator, AnthropicSimulator, GeminiSimulator]) -> OpenAISimulator:
    for sim in sims:
        sim.reset()
    return sims[0]


@pytest.fixture
def anthropic_sim(
    sims: tuple[OpenAISimulator, AnthropicSimulator, GeminiSimulator], openai_sim: OpenAISimulator
) -> AnthropicSimulator:
    return sims[1]


@pytest.fixture
def gemini_sim(
    sims: tuple[OpenAISimulator, AnthropicSimulator, GeminiSimulator], openai_sim: OpenAISimulator
) -> GeminiSimulator:
    return sims[2]


def config(
    first: str, first_url: str, backup: AnthropicSimulator, fallback_on: list[str] | None = None
) -> dict[str, Any]:
    """Model `m` on the `first` provider, falling back to model `backup` on Anthropic."""
    model: dict[str, Any] = {
        "name": "m",
        "deployments": [
            {"provider": "first", "model": "gpt-4o-mini" if first == "openai" else "gemini-2.5-flash"}
        ],
        "fallbacks": ["backup"],
    }
    if fallback_on is not None:
        model["fallback_on"] = fallback_on
    return {
        "providers": [
            {"name": "first", "type": first, "base_url": first_url, "api_key": KEY},
            {"name": "second", "type": "anthropic", "base_url": backup.base_url, "api_key": KEY},
        ],
        "models": [
            model,
            {"name": "backup", "deployments": [{"provider": "second", "model": "claude-haiku-4-5"}]},
        ],
        "routing": {"retry": {"max_retries": 0}},
    }


async def started(start_gateway: StartGateway, connect: Any, data: dict[str, Any]) -> tuple[Gateway, Client]:
    gateway = await start_gateway(data)
    return gateway, connect(gateway)


def attempts(gateway: Gateway, deployment: str) -> dict[str, float]:
    """llmgateway_upstream_attempts_total of one deployment, by outcome."""
    found: dict[str, float] = {}
    for family in gateway.metrics.upstream_attempts.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels["deployment"] == deployment and sample.value:
                found[sample.labels["outcome"]] = sample.value
    return found


def finishes(gateway: Gateway) -> dict[str, float]:
    return {
        s.labels["finish_reason"]: s.value
        for family in gateway.metrics.finishes.collect()
        for s in family.samples
        if s.name.endswith("_total")
    }


async def test_by_default_a_refusal_is_the_answer(
    openai_sim: OpenAISimulator, anthropic_sim: AnthropicSimulator, start_gateway: StartGateway, connect: Any
) -> None:
    gateway, client = await started(
        start_gateway, connect, config("openai", openai_sim.base_url, anthropic_sim)
    )
    openai_sim.enqueue(Behaviour(refusal=REFUSAL), Behaviour(refusal=REFUSAL))
    response = await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert response.finish_reason == chat_pb2.FINISH_REASON_REFUSAL
    assert [p.refusal for p in response.message.parts] == [REFUSAL]
    messages = [m async for m in client.chat.ChatStream(stream_request("m", user("hi")), timeout=5)]
    assert "".join(m.delta.refusal for m in messages) == REFUSAL
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_REFUSAL]
    assert anthropic_sim.requests == [], "no fallback without the policy"
    assert finishes(gateway) == {"refusal": 2}, "recorded as what it is"


async def test_with_the_policy_a_refusal_falls_back_unary_and_streamed(
    openai_sim: OpenAISimulator, anthropic_sim: AnthropicSimulator, start_gateway: StartGateway, connect: Any
) -> None:
    data = config("openai", openai_sim.base_url, anthropic_sim, ["unavailable", "refused"])
    gateway, client = await started(start_gateway, connect, data)
    openai_sim.enqueue(Behaviour(refusal=REFUSAL), Behaviour(refusal=REFUSAL))
    call = client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    response = await call
    assert response.finish_reason == chat_pb2.FINISH_REASON_STOP
    assert response.provider == "second" and response.message.parts[0].text == "You said: hi"
    trailers = dict(await call.trailing_metadata() or ())
    assert (trailers["x-llmgateway-attempts"], trailers["x-llmgateway-fallback"]) == ("2", "m->backup")
    messages = [m async for m in client.chat.ChatStream(stream_request("m", user("hi")), timeout=5)]
    assert messages[0].provider == "second"
    assert "".join(m.delta.text for m in messages) == "You said: hi"
    assert not any(m.delta.refusal for m in messages), "the refusal never reached the caller"
    assert len(openai_sim.requests) == 2 and len(anthropic_sim.requests) == 2
    assert attempts(gateway, "first/gpt-4o-mini") == {"REFUSED": 2}
    assert finishes(gateway) == {"stop": 2}


async def test_with_the_policy_the_last_refusal_comes_back_when_nobody_else_answers(
    openai_sim: OpenAISimulator, anthropic_sim: AnthropicSimulator, start_gateway: StartGateway, connect: Any
) -> None:
    data = config("openai", openai_sim.base_url, anthropic_sim, ["unavailable", "refused"])
    _, client = await started(start_gateway, connect, data)
    openai_sim.enqueue(Behaviour(refusal=REFUSAL), Behaviour(refusal=REFUSAL))
    anthropic_sim.enqueue(Behaviour(status=529), Behaviour(status=529))
    response = await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert (response.provider, response.finish_reason) == ("first", chat_pb2.FINISH_REASON_REFUSAL)
    messages = [m async for m in client.chat.ChatStream(stream_request("m", user("hi")), timeout=5)]
    assert messages[0].provider == "first" and "".join(m.delta.refusal for m in messages) == REFUSAL
    assert messages[-1].HasField("usage"), "the held stream is relayed whole"


async def test_a_stream_that_began_with_text_keeps_its_refusal(
    openai_sim: OpenAISimulator, anthropic_sim: AnthropicSimulator, start_gateway: StartGateway, connect: Any
) -> None:
    """Anthropic's refusal comes as stop_reason after text: the text is the stream's first content,
    so the stream is the caller's, refusal included, whatever the policy."""
    data = config("anthropic", anthropic_sim.base_url, anthropic_sim, ["unavailable", "refused"])
    data["models"][0]["deployments"][0]["model"] = "claude-haiku-4-5"
    _, client = await started(start_gateway, connect, data)
    anthropic_sim.enqueue(Behaviour(refusal=REFUSAL))
    messages = [m async for m in client.chat.ChatStream(stream_request("m", user("hi")), timeout=5)]
    assert "".join(m.delta.text for m in messages) == REFUSAL
    assert [m.finish_reason for m in messages if m.finish_reason] == [chat_pb2.FINISH_REASON_REFUSAL]
    assert len(anthropic_sim.requests) == 1, "no second attempt after content was relayed"


@pytest.mark.parametrize("fallback_on", [None, ["unavailable", "refused"]])
async def test_a_content_filter_falls_back_only_when_content_filtered_is_listed(
    gemini_sim: GeminiSimulator,
    anthropic_sim: AnthropicSimulator,
    start_gateway: StartGateway,
    connect: Any,
    fallback_on: list[str] | None,
) -> None:
    _, client = await started(
        start_gateway, connect, config("gemini", gemini_sim.base_url, anthropic_sim, fallback_on)
    )
    gemini_sim.enqueue(Behaviour(refusal="-"))
    response = await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert response.finish_reason == chat_pb2.FINISH_REASON_CONTENT_FILTER, (
        "`refused` is not `content_filtered`"
    )
    _, client = await started(
        start_gateway, connect, config("gemini", gemini_sim.base_url, anthropic_sim, ["content_filtered"])
    )
    gemini_sim.enqueue(Behaviour(refusal="-"), Behaviour(refusal="-"))
    response = await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert (response.provider, response.finish_reason) == ("second", chat_pb2.FINISH_REASON_STOP)
    messages = [m async for m in client.chat.ChatStream(stream_request("m", user("hi")), timeout=5)]
    assert messages[0].provider == "second"


async def test_refused_is_a_known_fallback_class(start_gateway: StartGateway) -> None:
    with pytest.raises(Exception, match="fallback_on"):
        await start_gateway(
            {
                "providers": [{"name": "echo", "type": "echo"}],
                "models": [
                    {
                        "name": "m",
                        "deployments": [{"provider": "echo", "model": "e"}],
                        "fallback_on": ["declined"],
                    }
                ],
            }
        )


async def test_with_the_policy_a_refusal_goes_first_to_the_models_next_deployment(
    openai_sim: OpenAISimulator, anthropic_sim: AnthropicSimulator, start_gateway: StartGateway, connect: Any
) -> None:
    data = config("openai", openai_sim.base_url, anthropic_sim, ["refused"])
    data["models"][0]["fallbacks"] = []
    data["models"][0]["deployments"] = [
        {"provider": "first", "model": "gpt-4o-mini", "weight": 100},
        {"provider": "second", "model": "claude-haiku-4-5", "weight": 1, "name": "m-on-claude"},
    ]
    _, client = await started(start_gateway, connect, data)
    openai_sim.enqueue(Behaviour(refusal=REFUSAL))
    response = await client.chat.Chat(chat_request("m", user("hi")), timeout=5)
    assert (response.provider, response.finish_reason) == ("second", chat_pb2.FINISH_REASON_STOP)
    assert len(openai_sim.requests) == len(anthropic_sim.requests) == 1
