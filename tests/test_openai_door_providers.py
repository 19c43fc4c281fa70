"""The v1 fields the OpenAI door added (GenerationConfig.response_json_object for
`response_format: json_object`, ToolChoice.disable_parallel_tool_calls for
`parallel_tool_calls: false`, Tool.strict for `tools[].function.strict`) reach every provider in its own wire field, or are refused with
UNSUPPORTED_CAPABILITY (a 400 naming the provider and the feature) before anything is sent: never
dropped. Through real HTTP to a gateway in front of each provider's simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conformance.harness import MODEL
from tests.conftest import StartGateway
from tests.openai_door import SDK_PROVIDERS, WEATHER_TOOL, door_url, post_chat, provider_config, simulator
from tests.upstreams.base import SimulatorServer

Body = dict[str, Any]
JSON_OBJECT: dict[str, Callable[[Body], bool] | None] = {
    "openai": lambda body: body["response_format"] == {"type": "json_object"},
    "azure_openai": lambda body: body["response_format"] == {"type": "json_object"},
    "anthropic": None,  # structured outputs take a schema only
    "gemini": lambda body: (
        body["generationConfig"]["responseMimeType"] == "application/json"
        and "responseJsonSchema" not in body["generationConfig"]
    ),
    "bedrock": None,  # outputConfig.textFormat takes a schema only
    "ollama": lambda body: body["format"] == "json",
}
ONE_TOOL_CALL: dict[str, Callable[[Body], bool] | None] = {
    "openai": lambda body: body["parallel_tool_calls"] is False,
    "azure_openai": lambda body: body["parallel_tool_calls"] is False,
    "anthropic": lambda body: body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True},
    "gemini": None,
    "bedrock": None,
    "ollama": None,
}
STRICT_TOOL: dict[str, Callable[[Body], bool] | None] = {
    "openai": lambda body: body["tools"][0]["function"]["strict"] is True,
    "azure_openai": lambda body: body["tools"][0]["function"]["strict"] is True,
    "anthropic": lambda body: body["tools"][0]["strict"] is True,
    "gemini": None,
    "bedrock": None,
    "ollama": None,
}
EXPECTED = {"json_object": JSON_OBJECT, "one_tool_call": ONE_TOOL_CALL, "strict_tool": STRICT_TOOL}
REQUESTS: dict[str, Body] = {
    "json_object": {
        "messages": [{"role": "user", "content": "the weather as JSON"}],
        "response_format": {"type": "json_object"},
    },
    "one_tool_call": {
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [WEATHER_TOOL],
        "parallel_tool_calls": False,
    },
    "strict_tool": {
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True}}],
    },
}


@pytest.mark.parametrize("feature", list(EXPECTED))
@pytest.mark.parametrize("provider", SDK_PROVIDERS)
async def test_honoured_in_the_providers_field_or_refused(
    start_gateway: StartGateway, provider_simulators: dict[str, SimulatorServer], provider: str, feature: str
) -> None:
    sim = simulator(provider_simulators, provider)
    gateway = await start_gateway(provider_config(provider, sim.base_url))
    expected = EXPECTED[feature][provider]
    async with httpx.AsyncClient(base_url=door_url(gateway), timeout=10) as http:
        for stream in (False, True):
            answer = await post_chat(http, {"model": MODEL, "stream": stream, **REQUESTS[feature]})
            if expected is None:
                assert answer.status_code == 400, answer.text
                assert answer.json()["error"]["code"] == "unsupported_capability"
                assert sim.requests == [], "refused before anything was sent"
            else:
                assert answer.status_code == 200, answer.text
                body = sim.requests[-1].body
                assert isinstance(body, dict) and expected(body), body
