"""The response cache through real gRPC: hits and misses, streams replayed, per-call control,
tenant isolation, and nothing stored that failed."""

from __future__ import annotations

import asyncio
import datetime
import random
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.providers.echo import EchoProvider
from llmgateway.resilience.clock import SystemClock
from llmgateway.routing.router import Router
from llmgateway.routing.rules import Caller
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, gateway_config, stream_request, user
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY_A, ID_A, HASH_A = new_key()
KEY_B, ID_B, HASH_B = new_key()
KEY_NOCACHE, ID_NOCACHE, HASH_NOCACHE = new_key()
KEY_C, ID_C, HASH_C = new_key()  # tenant alpha, like A: a key rule routes it elsewhere
A = (("authorization", f"Bearer {KEY_A}"),)
B = (("authorization", f"Bearer {KEY_B}"),)


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=None) as simulator:
        yield simulator


def cached_config(sim: OpenAISimulator) -> dict[str, Any]:
    return {
        "cache": {"enabled": True, "ttl_s": 60},
        "auth": {
            "enabled": True,
            "keys": [
                {"id": ID_A, "hash": HASH_A, "tenant": "alpha"},
                {"id": ID_B, "hash": HASH_B, "tenant": "beta"},
                {"id": ID_NOCACHE, "hash": HASH_NOCACHE, "tenant": "alpha", "policy": {"cache": False}},
            ],
        },
        "providers": [{"name": "sim", "type": "openai", "base_url": sim.base_url}],
        "models": [{"name": "m", "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}],
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def client(
    sim: OpenAISimulator, start_gateway: StartGateway, connect: Callable[[Gateway], Client]
) -> Client:
    sim.reset()
    return connect(await start_gateway(cached_config(sim)))


def upstream_calls(sim: OpenAISimulator) -> int:
    return len([r for r in sim.requests if r.method == "POST"])


async def chat(
    client: Client, text: str, metadata: tuple[tuple[str, str], ...], **fields: Any
) -> tuple[chat_pb2.ChatResponse, dict[str, str]]:
    call = client.chat.Chat(chat_request("m", user(text), **fields), timeout=5, metadata=metadata)
    response = await call
    return response, {k: str(v) for k, v in (await call.trailing_metadata() or ())}


async def stream(
    client: Client, text: str, metadata: tuple[tuple[str, str], ...]
) -> tuple[list[chat_pb2.ChatStreamResponse], dict[str, str]]:
    call = client.chat.ChatStream(stream_request("m", user(text)), timeout=5, metadata=metadata)
    messages = [m async for m in call]
    return messages, {k: str(v) for k, v in (await call.trailing_metadata() or ())}


async def test_miss_then_hit(client: Client, sim: OpenAISimulator) -> None:
    first, meta = await chat(client, "hello", A, request_id="r1", labels={"x": "1"})
    assert meta["x-llmgateway-cache"] == "miss"
    second, meta = await chat(client, "hello", A, request_id="r2", labels={"x": "2"})
    assert meta["x-llmgateway-cache"] == "hit"
    assert upstream_calls(sim) == 1, "request id and labels are not part of the key"
    assert second.id == "r2" and second.message == first.message
    assert second.usage.cost_usd == 0
    _, meta = await chat(client, "hello", A, generation_config=chat_pb2.GenerationConfig(temperature=0.1))
    assert meta["x-llmgateway-cache"] == "miss", "a setting that changes the answer changes the key"


async def test_streams_are_stored_and_replayed(client: Client, sim: OpenAISimulator) -> None:
    original, meta = await stream(client, "one two three", A)
    assert meta["x-llmgateway-cache"] == "miss"
    replayed, meta = await stream(client, "one two three", A)
    assert meta["x-llmgateway-cache"] == "hit"
    assert "".join(m.delta.text for m in replayed) == "".join(m.delta.text for m in original)
    assert replayed[0].provider == "sim" and replayed[-1].HasField("usage")
    assert [m.finish_reason for m in replayed if m.finish_reason] == [chat_pb2.FINISH_REASON_STOP]
    unary, meta = await chat(client, "one two three", A)
    assert meta["x-llmgateway-cache"] == "hit", "a streamed answer serves a unary call too"
    assert unary.message.parts[0].text == "You said: one two three"
    assert upstream_calls(sim) == 1


async def test_never_shared_across_tenants(client: Client, sim: OpenAISimulator) -> None:
    await chat(client, "private", A)
    _, meta = await chat(client, "private", B)
    assert meta["x-llmgateway-cache"] == "miss"
    assert upstream_calls(sim) == 2


async def test_per_call_control(client: Client, sim: OpenAISimulator) -> None:
    _, meta = await chat(client, "a", (*A, ("x-llmgateway-cache", "no-store")))
    assert meta["x-llmgateway-cache"] == "miss"
    _, meta = await chat(client, "a", A)
    assert meta["x-llmgateway-cache"] == "miss", "no-store kept it out"
    _, meta = await chat(client, "a", (*A, ("x-llmgateway-cache", "bypass")))
    assert meta["x-llmgateway-cache"] == "bypass"
    _, meta = await chat(client, "b", (*A, ("x-llmgateway-cache-ttl", "0.2")))
    _, meta = await chat(client, "b", A)
    assert meta["x-llmgateway-cache"] == "hit"
    await asyncio.sleep(0.3)
    _, meta = await chat(client, "b", A)
    assert meta["x-llmgateway-cache"] == "miss", "the short TTL expired"
    _, meta = await chat(client, "a", (("authorization", f"Bearer {KEY_NOCACHE}"),))
    assert meta["x-llmgateway-cache"] == "off", "the key's policy turns the cache off"


async def test_errors_and_cut_streams_are_not_stored(client: Client, sim: OpenAISimulator) -> None:
    sim.enqueue(Behaviour(cut_after=2))
    with pytest.raises(grpc.aio.AioRpcError):
        await stream(client, "a b c d", A)
    sim.enqueue(Behaviour(status=503))
    with pytest.raises(grpc.aio.AioRpcError):
        await chat(client, "e f", A)
    _, meta = await stream(client, "a b c d", A)
    assert meta["x-llmgateway-cache"] == "miss"
    _, meta = await chat(client, "e f", A)
    assert meta["x-llmgateway-cache"] == "miss"
    assert upstream_calls(sim) == 4


def routed_config(
    premium: OpenAISimulator, cheap: OpenAISimulator, rules: list[dict[str, Any]]
) -> dict[str, Any]:
    """Model m on the premium upstream, model `cheap` on another, and routing rules between them."""
    config = cached_config(premium)
    config["providers"] = [
        {"name": "premium", "type": "openai", "base_url": premium.base_url},
        {"name": "batch", "type": "openai", "base_url": cheap.base_url},
    ]
    config["models"] = [
        {"name": "m", "deployments": [{"provider": "premium", "model": "gpt-4o"}]},
        {"name": "cheap", "deployments": [{"provider": "batch", "model": "gpt-4o-mini"}]},
    ]
    config["routing"]["rules"] = rules
    config["auth"]["keys"].append({"id": ID_C, "hash": HASH_C, "tenant": "alpha"})
    return config


@pytest.mark.parametrize(
    ("rule", "routed_call"),
    [
        (
            {"match": {"labels": {"tier": "batch"}}, "action": {"model": "cheap"}},
            {"labels": {"tier": "batch"}},
        ),
        (
            {"match": {"key": ID_C}, "action": {"model": "cheap"}},
            {"metadata": (("authorization", f"Bearer {KEY_C}"),)},
        ),
        (
            {"match": {"labels": {"tier": "batch"}}, "action": {"deployments": ["batch/gpt-4o-mini"]}},
            {"labels": {"tier": "batch"}},
        ),
    ],
    ids=["label-rule", "key-rule", "deployment-rule"],
)
async def test_answers_are_not_shared_across_routing_decisions(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    sim: OpenAISimulator,
    rule: dict[str, Any],
    routed_call: dict[str, Any],
) -> None:
    """A rule sends some calls to another model: their cached answers must not serve the calls
    routing sends to the requested one (nor the other way round)."""
    sim.reset()
    with OpenAISimulator(api_key=None) as cheap:
        rules = [{"name": "to-cheap", **rule}]
        client = connect(await start_gateway(routed_config(sim, cheap, rules)))
        # Keys A and C are both tenant alpha: only routing tells their calls apart.
        metadata = routed_call.get("metadata", A)
        labels = routed_call.get("labels", {})
        routed, meta = await chat(client, "same question", metadata, labels=labels)
        assert (routed.provider, meta["x-llmgateway-cache"]) == ("batch", "miss")
        plain, meta = await chat(client, "same question", A)
        assert (plain.provider, meta["x-llmgateway-cache"]) == ("premium", "miss"), "not the batch answer"
        again, meta = await chat(client, "same question", metadata, labels=labels)
        assert (again.provider, meta["x-llmgateway-cache"]) == ("batch", "hit")
        assert upstream_calls(sim) == 1 and upstream_calls(cheap) == 1


def test_the_cache_scope_follows_time_rules() -> None:
    """A time-of-day rule: the same request inside and outside its window has two scopes."""
    config = gateway_config(
        {
            "providers": [{"name": "e", "type": "echo"}],
            "models": [
                {"name": "m", "deployments": [{"provider": "e", "model": "big"}]},
                {"name": "cheap", "deployments": [{"provider": "e", "model": "small"}]},
            ],
            "routing": {
                "rules": [
                    {
                        "name": "nights",
                        "match": {"time": {"start": "22:00", "end": "06:00"}},
                        "action": {"model": "cheap"},
                    }
                ]
            },
        }
    )
    now = datetime.datetime(2026, 12, 7, 23, 0, tzinfo=datetime.UTC)
    router = Router(
        config, {"e": EchoProvider("e")}, clock=SystemClock(), rng=random.Random(1), wall_clock=lambda: now
    )
    request = chat_request("m", user("same question"))
    at_night = router.cache_scope(request, Caller())
    now = now.replace(hour=12)
    at_noon = router.cache_scope(request, Caller())
    assert (at_night, at_noon) == ("model:cheap", "model:m")
