"""The response cache through real gRPC: hits and misses, streams replayed, per-call control,
tenant isolation, and nothing stored that failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY_A, ID_A, HASH_A = new_key()
KEY_B, ID_B, HASH_B = new_key()
KEY_NOCACHE, ID_NOCACHE, HASH_NOCACHE = new_key()
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
