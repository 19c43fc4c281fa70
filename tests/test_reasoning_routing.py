"""Reasoning settings and routing, through real gRPC to a gateway in front of the simulators: the
capability filter sends a call only to a deployment that can honour its reasoning settings, and
refuses with INVALID_ARGUMENT naming every deployment and what it lacks when none can; after a
fallback to another provider in the middle of a tool loop, the first provider's signatures are
dropped (the second could not verify them) and the loop goes on."""

from __future__ import annotations

import json
from typing import Any

import grpc
import httpx
import pytest

from llmgateway.v1 import content_pb2
from tests.conformance.harness import HARNESSES, simulator_for
from tests.conftest import StartGateway, chat_request, reasoning, user
from tests.rich_status import rich_status
from tests.test_reasoning_tool_loop import CALL, TOOL, tool_turn
from tests.upstreams.base import Behaviour, SimulatorServer


def provider(key: str, sim: SimulatorServer) -> dict[str, Any]:
    settings: dict[str, Any] = HARNESSES[key].config(sim.base_url)["providers"][0]
    return settings


def deployment(key: str, model: str, **extra: Any) -> dict[str, Any]:
    return {"provider": HARNESSES[key].provider_name, "model": model, **extra}


@pytest.fixture
def sims(provider_simulators: dict[str, SimulatorServer]) -> dict[str, SimulatorServer]:
    return {
        key: simulator_for(provider_simulators, HARNESSES[key]) for key in ("openai", "anthropic", "gemini")
    }


async def test_the_filter_routes_to_a_deployment_that_can_honour_the_settings(
    start_gateway: StartGateway, connect: Any, sims: dict[str, SimulatorServer]
) -> None:
    config = {
        "providers": [provider("openai", sims["openai"]), provider("anthropic", sims["anthropic"])],
        "models": [
            {
                "name": "mixed",
                "deployments": [
                    deployment("openai", "gpt-4o-mini", weight=100),  # no reasoning
                    deployment("anthropic", "claude-sonnet-4-5"),
                ],
            },
            {"name": "plain", "deployments": [deployment("openai", "gpt-4o-mini", name="plain-4o-mini")]},
            {
                "name": "o-series",
                "deployments": [deployment("openai", "o4-mini")],
            },
        ],
        "routing": {"retry": {"max_retries": 0}},
    }
    client = connect(await start_gateway(config))
    for _ in range(3):
        answer = await client.chat.Chat(
            chat_request("mixed", user("hi"), generation_config=reasoning(effort="low")), timeout=10
        )
        assert answer.provider == HARNESSES["anthropic"].provider_name
    assert sims["openai"].requests == []
    assert json.loads(sims["anthropic"].requests[-1].raw)["thinking"] == {
        "type": "enabled",
        "budget_tokens": 2048,
    }

    # Without reasoning settings every deployment is a candidate (the heavy one wins).
    answer = await client.chat.Chat(chat_request("mixed", user("hi")), timeout=10)
    assert answer.provider == HARNESSES["openai"].provider_name

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.chat.Chat(
            chat_request("plain", user("hi"), generation_config=reasoning(effort="high")), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = rich_status(refused.value).error_info
    assert info.reason == "REASONING_UNSUPPORTED"
    assert info.metadata["deployments"] == "plain-4o-mini"
    assert "deployment 'plain-4o-mini' lacks reasoning" in (refused.value.details() or "")

    # A reasoning model on Chat Completions takes an effort, but returns no thought text and takes
    # no budget.
    answer = await client.chat.Chat(
        chat_request("o-series", user("hi"), generation_config=reasoning(effort="high")), timeout=10
    )
    assert json.loads(sims["openai"].requests[-1].raw)["reasoning_effort"] == "high"
    for settings, lack in (
        (reasoning(include_thoughts=True), "returning reasoning text"),
        (reasoning(budget_tokens=4096), "a reasoning token budget"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.chat.Chat(
                chat_request("o-series", user("hi"), generation_config=settings), timeout=10
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert lack in (refused.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await client.chat.Chat(
            chat_request("mixed", user("hi"), generation_config=reasoning(effort="none", budget_tokens=2048)),
            timeout=10,
        )
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_status(malformed.value).error_info.reason == "INVALID_REQUEST"


async def test_a_fallback_drops_the_first_providers_signatures(
    start_gateway: StartGateway, connect: Any, sims: dict[str, SimulatorServer]
) -> None:
    config = {
        "providers": [provider("anthropic", sims["anthropic"]), provider("gemini", sims["gemini"])],
        "models": [
            {
                "name": "claude",
                "deployments": [deployment("anthropic", "claude-sonnet-4-5")],
                "fallbacks": ["gemini"],
            },
            {"name": "gemini", "deployments": [deployment("gemini", "gemini-3-pro-preview")]},
        ],
        "routing": {"retry": {"max_retries": 0}},
    }
    client = connect(await start_gateway(config))
    settings = reasoning(effort="low")
    sims["anthropic"].enqueue(Behaviour(tool_calls=[CALL]), Behaviour(status=529))
    sims["gemini"].enqueue(Behaviour(reply_text="It is sunny."))
    question = user("Weather in Paris?")
    first = await client.chat.Chat(
        chat_request("claude", question, tools=[TOOL], generation_config=settings), timeout=10
    )
    thinking = [p.reasoning for p in first.message.parts if p.WhichOneof("kind") == "reasoning"]
    assert thinking and thinking[0].origin == "anthropic" and thinking[0].signature
    call_id = next(p.tool_call.id for p in first.message.parts if p.WhichOneof("kind") == "tool_call")

    second = await client.chat.Chat(
        chat_request(
            "claude", question, first.message, tool_turn(call_id), tools=[TOOL], generation_config=settings
        ),
        timeout=10,
    )
    assert second.provider == HARNESSES["gemini"].provider_name
    assert "".join(p.text for p in second.message.parts) == "It is sunny."
    sent = json.loads(sims["gemini"].requests[-1].raw)
    assert thinking[0].signature not in json.dumps(sent)
    model_turn = sent["contents"][1]
    assert model_turn["role"] == "model"
    # The call keeps Gemini's documented placeholder for calls it did not make; no thought text goes.
    assert model_turn["parts"] == [
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": call_id},
            "thoughtSignature": "skip_thought_signature_validator",
        }
    ]

    # And the other way: Gemini's signature never reaches Anthropic.
    gemini_turn = content_pb2.Message(
        role=content_pb2.ROLE_ASSISTANT,
        parts=[
            content_pb2.Part(reasoning=content_pb2.Reasoning(signature="c2ln", origin="gemini")),
            content_pb2.Part(
                tool_call=content_pb2.ToolCall(id="call_1", name="get_weather", arguments_json="{}")
            ),
        ],
    )
    sims["anthropic"].enqueue(Behaviour(reply_text="fine"))
    await client.chat.Chat(
        chat_request("claude", question, gemini_turn, tool_turn("call_1"), tools=[TOOL]), timeout=10
    )
    sent = json.loads(sims["anthropic"].requests[-1].raw)
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}
    ]


@pytest.mark.parametrize(
    ("model", "effort", "code"),
    [("gpt-4o-mini", "low", "unsupported_parameter"), ("o4-mini", "minimal", "unsupported_value")],
)
async def test_the_openai_simulator_takes_an_effort_only_where_openai_does(
    sims: dict[str, SimulatorServer], model: str, effort: str, code: str
) -> None:
    key = HARNESSES["openai"].settings["api_key"]
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort}
    async with httpx.AsyncClient(base_url=sims["openai"].base_url, timeout=10) as http:
        answer = await http.post(
            "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["param"] == "reasoning_effort"
