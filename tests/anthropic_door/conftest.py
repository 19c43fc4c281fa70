"""A live gateway's Anthropic door in front of the simulators of five providers, judged by the
official `anthropic` SDK over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anthropic
import pytest

from llmgateway.app import Gateway
from tests.conftest import StartGateway
from tests.upstreams.anthropic import AnthropicSimulator
from tests.upstreams.base import SimulatorServer
from tests.upstreams.bedrock import BedrockSimulator
from tests.upstreams.gemini import GeminiSimulator
from tests.upstreams.ollama import OllamaSimulator
from tests.upstreams.openai import OpenAISimulator

OPENAI_KEY = "sk-sim-door-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-sim-door-0123456789"
GEMINI_KEY = "sim-gemini-door-0123456789"
AWS_KEY_ID, AWS_SECRET = "AKIDDOORSIM", "sim-door-secret-0123456789"
# The gateway's model name for each provider, and the provider's name in x-llmgateway-provider.
PROVIDERS = {"gpt": "openai", "claude": "anthropic", "gemini": "gemini", "nova": "bedrock", "llama": "ollama"}
# A model that thinks unless told not to (the Ollama simulator's qwen3).
THINKER = "qwen"
WEATHER_TOOL: anthropic.types.ToolParam = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@dataclass
class Sims:
    openai: OpenAISimulator
    anthropic: AnthropicSimulator
    gemini: GeminiSimulator
    bedrock: BedrockSimulator
    ollama: OllamaSimulator

    def of(self, model: str) -> SimulatorServer:
        """The simulator behind one of the gateway's models."""
        sim: SimulatorServer = getattr(self, PROVIDERS[model])
        return sim

    def all(self) -> list[SimulatorServer]:
        return [self.openai, self.anthropic, self.gemini, self.bedrock, self.ollama]


@pytest.fixture(scope="package")
def simulators() -> Iterator[Sims]:
    with ExitStack() as stack:
        yield Sims(
            openai=stack.enter_context(OpenAISimulator(api_key=OPENAI_KEY)),
            anthropic=stack.enter_context(AnthropicSimulator(api_key=ANTHROPIC_KEY)),
            gemini=stack.enter_context(GeminiSimulator(api_key=GEMINI_KEY)),
            bedrock=stack.enter_context(BedrockSimulator(AWS_KEY_ID, AWS_SECRET, "us-east-1")),
            ollama=stack.enter_context(OllamaSimulator()),
        )


@pytest.fixture
def sims(simulators: Sims) -> Sims:
    for sim in simulators.all():
        sim.reset()
    return simulators


def door_config(sims: Sims, **extra: Any) -> dict[str, Any]:
    """A gateway with its HTTP listener on, a model per provider, and no retries (each test
    decides what the upstream does, once)."""
    providers: list[dict[str, Any]] = [
        {"name": "openai", "type": "openai", "base_url": sims.openai.base_url, "api_key": OPENAI_KEY},
        {
            "name": "anthropic",
            "type": "anthropic",
            "base_url": sims.anthropic.base_url,
            "api_key": ANTHROPIC_KEY,
        },
        {"name": "gemini", "type": "gemini", "base_url": sims.gemini.base_url, "api_key": GEMINI_KEY},
        {
            "name": "bedrock",
            "type": "bedrock",
            "base_url": sims.bedrock.base_url,
            "region": "us-east-1",
            "aws_access_key_id": AWS_KEY_ID,
            "aws_secret_access_key": AWS_SECRET,
        },
        {"name": "ollama", "type": "ollama", "base_url": sims.ollama.base_url},
    ]
    upstream = {
        "gpt": "gpt-4o-mini",
        "claude": "claude-haiku-4-5",
        "gemini": "gemini-2.5-flash",
        "nova": "amazon.nova-lite-v1:0",
        "llama": "llama3.2",
    }
    models = [
        {"name": name, "deployments": [{"provider": PROVIDERS[name], "model": model}]}
        for name, model in upstream.items()
    ]
    models.append({"name": THINKER, "deployments": [{"provider": "ollama", "model": "qwen3:8b"}]})
    config: dict[str, Any] = {
        "providers": providers,
        "models": models,
        "routing": {"retry": {"max_retries": 0}},
        **extra,
    }
    config["server"] = {"http_listen": "127.0.0.1:0", **extra.get("server", {})}
    return config


def base_url(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.http_port}"


OpenSdk = Callable[..., anthropic.AsyncAnthropic]


@pytest.fixture
async def sdk() -> AsyncIterator[OpenSdk]:
    """The official SDK's async client on a gateway (no retries unless asked), closed after the test."""
    clients: list[anthropic.AsyncAnthropic] = []

    def open_client(
        gateway: Gateway, api_key: str = "unused-key", **options: Any
    ) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url(gateway), **{"max_retries": 0, "timeout": 10, **options}
        )
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
async def door(sims: Sims, start_gateway: StartGateway, sdk: OpenSdk) -> anthropic.AsyncAnthropic:
    """The SDK on a gateway of the default door config."""
    return sdk(await start_gateway(door_config(sims)))
