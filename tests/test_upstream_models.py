"""ListModels: configured models, plus what listable upstreams serve (cached, bounded, never fatal)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import grpc

from llmgateway.errors import GatewayError
from llmgateway.providers.base import Provider, UpstreamCall
from llmgateway.routing.upstream_models import UpstreamModelDirectory
from llmgateway.v1 import chat_pb2


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
    error = GatewayError(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CONNECT_FAILED", "down")
    providers: dict[str, Provider] = {
        "down": ListingProvider("down", [error]),
        "slow": ListingProvider("slow", [["m"]], delay=5),
        "ok": ListingProvider("ok", [["m1"]]),
    }
    directory = UpstreamModelDirectory(providers, timeout_s=0.2)
    assert [(m.provider, m.name) for m in await directory.describe()] == [("ok", "m1")]


async def test_keeps_the_last_good_list_when_a_refresh_fails() -> None:
    error = GatewayError(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_CONNECT_FAILED", "down")
    clock = Clock()
    directory = UpstreamModelDirectory({"p": ListingProvider("p", [["m1"], error])}, ttl_s=1, clock=clock)
    await directory.describe()
    clock.now = 5
    assert [m.name for m in await directory.describe()] == ["m1"]
