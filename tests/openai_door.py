"""What the OpenAI door's tests share: gateways with the HTTP listener on, in front of a provider
simulator, and a reader of raw server-sent events."""

from __future__ import annotations

import json
from typing import Any

import httpx

from llmgateway.app import Gateway
from tests.conformance.harness import HARNESSES, MODEL, simulator_for
from tests.upstreams.base import Behaviour, SimulatorServer

HTTP_ON = {"http_listen": "127.0.0.1:0"}


def with_http(config: dict[str, Any]) -> dict[str, Any]:
    """The config with the HTTP listener on (beside whatever `server` settings it has)."""
    return {**config, "server": {**config.get("server", {}), **HTTP_ON}}


def door_url(gateway: Gateway) -> str:
    """The base URL the OpenAI SDKs take (`.../v1`)."""
    return f"http://127.0.0.1:{gateway.http_port}/v1"


def provider_config(key: str, base_url: str, **overrides: Any) -> dict[str, Any]:
    """A gateway (HTTP on) whose model `conf` is served by one provider's simulator at `base_url`,
    as the conformance suite configures it (tests/conformance/harness.py)."""
    return with_http(HARNESSES[key].config(base_url, **overrides))


def events(text: str) -> list[str]:
    """The `data:` payloads of an event stream, in order (comments and blank lines skipped)."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[len("data: ") :] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            found.append("\n".join(data))
    return found


def chunks(text: str) -> list[dict[str, Any]]:
    """The JSON payloads of an event stream, `[DONE]` left out."""
    return [json.loads(data) for data in events(text) if data != "[DONE]"]


async def post_chat(http: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return await http.post("/chat/completions", json=body, **kwargs)


def chat_body(model: str = MODEL, text: str = "hello", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **fields}


# The providers every SDK judges the door in front of (tests/upstreams' simulators).
SDK_PROVIDERS = ("openai", "azure_openai", "anthropic", "gemini", "bedrock", "ollama")
TWO_CALLS = [("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')]
WEATHER_JSON = '{"city": "Paris", "temp": 21}'
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def scripted(sim: SimulatorServer, scenario: str, provider: str) -> None:
    """The simulator's answers, in order, for one SDK scenario (the same for every SDK)."""
    if scenario == "tools":
        sim.enqueue(Behaviour(tool_calls=list(TWO_CALLS)), Behaviour())
    elif scenario == "json":
        sim.behaviour = Behaviour(reply_text=WEATHER_JSON)
    elif scenario == "rate_limit":
        sim.behaviour = Behaviour(**HARNESSES[provider].errors["error_rate_limit"].behaviour)
    elif scenario == "mid_stream":
        sim.behaviour = Behaviour(reply_text="one two three four five", stream_error_after=2)
    elif scenario == "cancel":
        sim.behaviour = Behaviour(reply_text="a b c d e f g h i j k l m n", inter_token=0.3)


def simulator(simulators: dict[str, SimulatorServer], provider: str) -> SimulatorServer:
    """The provider's simulator from a module's pool, started on first use, reset for this test."""
    return simulator_for(simulators, HARNESSES[provider])
