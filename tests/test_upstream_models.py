"""ListModels: configured models, plus what listable upstreams serve (cached, bounded, never fatal)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

from llmgateway.app import Gateway
from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider, UpstreamCall
from llmgateway.reasons import Reason
from llmgateway.routing.upstream_models import UpstreamModelDirectory
from llmgateway.v1 import chat_pb2, models_pb2
from tests.conftest import Client, StartGateway
from tests.upstreams.ollama import MODELS as OLLAMA_MODELS
from tests.upstreams.ollama import OllamaSimulator
from tests.upstreams.openai import MODELS as OPENAI_MODELS
from tests.upstreams.openai import OpenAISimulator


class ListingProvider(Provider):
    """A provider whose only behaviour is listing: the directory's collaborator, not the code under test."""

    def __init__(self, name: str, answers: list[list[str] | Exception], delay: float = 0.0) -> None:
        super().__init__(name)
        self.answers = answers
        self.delay = delay
        self.calls = 0

    async def list_models(self) -> list[str] | None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        raise NotImplementedError

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        raise NotImplementedError
        yield  # pragma: no cover - makes this an async generator


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_lists_sorted_and_caches_for_the_ttl() -> None:
    provider = ListingProvider("b", [["z-model", "a-model"], ["new-model"]])
    clock = Clock()
    directory = UpstreamModelDirectory({"b": provider}, ttl_s=60, clock=clock)
    first = await directory.describe()
    assert [(m.provider, m.name) for m in first] == [("b", "a-model"), ("b", "z-model")]
    clock.now = 59
    assert await directory.describe() == first
    assert provider.calls == 1
    clock.now = 61
    assert [m.name for m in await directory.describe()] == ["new-model"]


async def test_a_failing_or_slow_provider_is_left_out() -> None:
    error = GatewayError(Reason.UPSTREAM_CONNECT_FAILED, "down")
    providers: dict[str, Provider] = {
        "down": ListingProvider("down", [error]),
        "slow": ListingProvider("slow", [["m"]], delay=5),
        "ok": ListingProvider("ok", [["m1"]]),
    }
    directory = UpstreamModelDirectory(providers, timeout_s=0.2)
    assert [(m.provider, m.name) for m in await directory.describe()] == [("ok", "m1")]


async def test_keeps_the_last_good_list_when_a_refresh_fails() -> None:
    error = GatewayError(Reason.UPSTREAM_CONNECT_FAILED, "down")
    clock = Clock()
    directory = UpstreamModelDirectory({"p": ListingProvider("p", [["m1"], error])}, ttl_s=1, clock=clock)
    await directory.describe()
    clock.now = 5
    assert [m.name for m in await directory.describe()] == ["m1"]


async def test_list_models_over_grpc_includes_what_upstreams_serve(
    start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> None:
    with OpenAISimulator(api_key="sk-list") as openai_sim, OllamaSimulator() as ollama_sim:
        config = {
            "providers": [
                {"name": "oa", "type": "openai", "base_url": openai_sim.base_url, "api_key": "sk-list"},
                {"name": "local", "type": "ollama", "base_url": ollama_sim.base_url},
                {"name": "down", "type": "vllm", "base_url": "http://127.0.0.1:9"},
                {"name": "echo", "type": "echo"},
            ],
            "models": [
                {
                    "name": "mini",
                    "aliases": ["small"],
                    "deployments": [{"provider": "oa", "model": "gpt-4o-mini"}],
                },
                {"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]},
            ],
        }
        client = connect(await start_gateway(config))
        response = await client.models.ListModels(models_pb2.ListModelsRequest(), timeout=10)
    assert [(m.name, list(m.aliases), list(m.providers)) for m in response.models] == [
        ("echo", [], ["echo"]),
        ("mini", ["small"], ["oa"]),
    ]
    upstream = {(m.provider, m.name) for m in response.upstream_models}
    assert {("oa", name) for name in OPENAI_MODELS} <= upstream
    assert {("local", name) for name in OLLAMA_MODELS} <= upstream
    assert not any(provider in ("down", "echo") for provider, _ in upstream), (
        "unreachable or unlistable: left out"
    )
