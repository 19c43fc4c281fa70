"""LangChain's `ChatOpenAI` (langchain-openai) judges the OpenAI door: invoke and stream with usage,
tools bound and called, the ToolMessage round trip, and structured output, through a live gateway in
front of four providers' simulators."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from tests.conformance.harness import MODEL
from tests.conftest import StartGateway
from tests.openai_door import WEATHER_TOOL, door_url, provider_config, scripted, simulator
from tests.upstreams.base import SimulatorServer

PROVIDERS = ["anthropic", "gemini", "bedrock", "ollama"]


class Weather(BaseModel):
    city: str
    temp: float


async def chat_model(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str
) -> tuple[ChatOpenAI, SimulatorServer]:
    sim = simulator(provider_simulators, provider)
    gateway = await start_gateway(provider_config(provider, sim.base_url))
    model = ChatOpenAI(
        model=MODEL,
        base_url=door_url(gateway),
        api_key=SecretStr("unused"),
        max_retries=0,
        timeout=20,
        stream_usage=True,
    )
    return model, sim


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_invoke_and_stream(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str
) -> None:
    model, _ = await chat_model(start_gateway, provider_simulators, provider)
    answer = await model.ainvoke([SystemMessage("Be brief."), HumanMessage("hello there")])
    assert answer.content == "You said: hello there"
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] > 0

    merged = None
    async for chunk in model.astream("one two three"):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None and merged.content == "You said: one two three"
    assert merged.usage_metadata is not None and merged.usage_metadata["input_tokens"] > 0
    assert merged.response_metadata.get("finish_reason") == "stop"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_bound_tools_and_the_tool_message_round_trip(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str
) -> None:
    model, sim = await chat_model(start_gateway, provider_simulators, provider)
    scripted(sim, "tools", provider)
    with_tools = model.bind_tools([WEATHER_TOOL])
    question = HumanMessage("weather in Paris and Oslo?")
    called = await with_tools.ainvoke([question])
    assert isinstance(called, AIMessage)
    assert [(c["name"], c["args"]) for c in called.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    history: list[BaseMessage] = [question, called]
    history += [
        ToolMessage(f'{{"temp": {20 + i}}}', tool_call_id=str(c["id"]))
        for i, c in enumerate(called.tool_calls)
    ]
    answer = await with_tools.ainvoke(history)
    assert isinstance(answer.content, str) and answer.content


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_structured_output(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str
) -> None:
    model, sim = await chat_model(start_gateway, provider_simulators, provider)
    scripted(sim, "json", provider)
    weather = await model.with_structured_output(Weather).ainvoke("the weather in Paris")
    assert weather == Weather(city="Paris", temp=21)
