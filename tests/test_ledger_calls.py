"""One ledger record per call, whatever its door, kind and ending: unary, stream, a stream cut by
its provider, a stream its caller cancelled, cache hits, refused calls; through gRPC and the OpenAI
door (the official SDK). Each record carries the key's id (never the key or its hash), the tenant,
the tags, the model, deployment and provider, tokens, cost, status and reason, latency, TTFT and
the cache result. Against a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import openai
import pytest

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.config.ledger import sqlite_url
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.ledger_rows import rows_when_settled
from tests.openai_door import door_url
from tests.upstreams.openai import Behaviour, OpenAISimulator

pytest_plugins = ["tests.postgres_fixtures"]

KEY, KEY_ID, KEY_HASH = new_key()
AUTH = (("authorization", f"Bearer {KEY}"),)
PRICE_PER_MTOK = 1000.0  # a token costs a tenth of a cent


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=None) as simulator:
        yield simulator


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The ledger section: a SQLite file, or a database of its own in the session's PostgreSQL."""
    if request.param == "sqlite":
        return {"url": sqlite_url(tmp_path / "ledger.db")}
    url = request.getfixturevalue("postgres_url")
    return {"url": url, "migrate_on_start": True, "spool_dir": str(tmp_path / "spool")}


def config(sim: OpenAISimulator, ledger: dict[str, Any]) -> dict[str, Any]:
    return {
        "server": {"http_listen": "127.0.0.1:0"},
        "auth": {
            "enabled": True,
            "keys": [
                {"id": KEY_ID, "hash": KEY_HASH, "tenant": "acme", "policy": {"labels": {"team": "search"}}}
            ],
        },
        "cache": {"enabled": True, "ttl_s": 60},
        "ledger": {**ledger, "flush_interval_s": 0.05},
        "providers": [{"name": "sim", "type": "openai", "base_url": sim.base_url}],
        "models": [
            {
                "name": "m",
                "deployments": [
                    {
                        "provider": "sim",
                        "model": "gpt-4o-mini",
                        "input_price_per_mtok": PRICE_PER_MTOK,
                        "output_price_per_mtok": PRICE_PER_MTOK,
                    }
                ],
            }
        ],
        "routing": {"retry": {"max_retries": 0}},
    }


@pytest.fixture
async def gateway(sim: OpenAISimulator, database: dict[str, Any], start_gateway: StartGateway) -> Gateway:
    sim.reset()
    return await start_gateway(config(sim, database))


async def unary(client: Client, text: str, **fields: Any) -> chat_pb2.ChatResponse:
    return await client.chat.Chat(chat_request("m", user(text), **fields), timeout=10, metadata=AUTH)


async def streamed(client: Client, text: str) -> list[chat_pb2.ChatStreamResponse]:
    call = client.chat.ChatStream(stream_request("m", user(text)), timeout=10, metadata=AUTH)
    return [message async for message in call]


def by_status(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["status"], []).append(row)
    return grouped


async def test_every_grpc_call_has_one_record(
    gateway: Gateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator, database: dict[str, Any]
) -> None:
    client = connect(gateway)
    answer = await unary(client, "one", labels={"feature": "qa"})
    await unary(client, "one", labels={"feature": "qa"})  # the same: a cache hit
    await streamed(client, "two words")
    await streamed(client, "two words")  # a cache hit, replayed as a stream
    sim.enqueue(Behaviour(stream_error_after=2))
    with pytest.raises(grpc.aio.AioRpcError):  # cut by its provider after two words
        await streamed(client, "cut me off after two words please")
    cancelled = client.chat.ChatStream(stream_request("m", user("cancel me " * 5)), timeout=10, metadata=AUTH)
    sim.enqueue(Behaviour(inter_token=0.2))
    async for _ in cancelled:
        cancelled.cancel()
        break
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # no key
        await client.chat.Chat(chat_request("m", user("x")), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError):  # unknown model
        await client.chat.Chat(chat_request("nope", user("x")), timeout=10, metadata=AUTH)

    rows = await rows_when_settled(database["url"], 8)
    assert len(rows) == 8, [(r["method"], r["status"], r["reason"]) for r in rows]
    assert len({row["call_id"] for row in rows}) == 8
    first = rows[0]
    assert first["method"] == "Chat"
    assert first["frontend"] == "grpc"
    assert first["status"] == "OK"
    assert first["key_id"] == KEY_ID
    assert first["tenant"] == "acme"
    assert first["tags"] == {"feature": "qa", "team": "search"}  # the key's policy label joined
    assert (first["requested_model"], first["model"], first["provider"]) == ("m", "m", "sim")
    assert first["deployment"]
    assert first["cache"] == "miss"
    assert first["request_id"] == answer.id
    usage = answer.usage
    assert (first["input_tokens"], first["output_tokens"], first["total_tokens"]) == (
        usage.input_tokens,
        usage.output_tokens,
        usage.total_tokens,
    )
    assert first["cost_nano_usd"] == round(usage.cost_usd * 1e9) > 0
    assert first["latency_us"] > 0
    hit = rows[1]
    assert (hit["cache"], hit["cost_nano_usd"], hit["status"]) == ("hit", 0, "OK")

    streams = [row for row in rows if row["method"] == "ChatStream"]
    assert [row["cache"] for row in streams[:2]] == ["miss", "hit"]
    assert streams[0]["ttft_us"] is not None and streams[0]["ttft_us"] <= streams[0]["latency_us"]
    assert streams[0]["output_tokens"] > 0 and streams[0]["cost_nano_usd"] > 0
    cut, cancelled_row = streams[2], streams[3]
    assert cut["status"] == "UNAVAILABLE" and cut["reason"] == "STREAM_INTERRUPTED"
    assert cut["input_tokens"] > 0, "a cut stream is charged its prompt"
    assert cancelled_row["status"] == "CANCELLED"
    assert cancelled_row["input_tokens"] > 0 and cancelled_row["cost_nano_usd"] > 0

    refusals = rows[-2:]
    assert [(r["status"], r["reason"], r["key_id"]) for r in refusals] == [
        ("UNAUTHENTICATED", "MISSING_API_KEY", ""),
        ("NOT_FOUND", "MODEL_NOT_FOUND", KEY_ID),
    ]
    assert all(r["cost_nano_usd"] == 0 and r["provider"] == "" for r in refusals)
    for row in rows:  # never the key, its secret or its stored hash
        assert KEY not in str(row) and KEY_HASH.split("$")[2] not in str(row)


async def test_every_openai_door_call_has_one_record(gateway: Gateway, database: dict[str, Any]) -> None:
    client = openai.AsyncOpenAI(base_url=door_url(gateway), api_key=KEY, max_retries=0)
    messages: Any = [{"role": "user", "content": "hello door"}]
    completion = await client.chat.completions.create(model="m", messages=messages)
    chunks = [
        chunk
        async for chunk in await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "a stream"}], stream=True
        )
    ]
    assert chunks
    bad = openai.AsyncOpenAI(base_url=door_url(gateway), api_key="llmgw-wrong-" + "x" * 30, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad.chat.completions.create(model="m", messages=messages)
    await client.close()
    await bad.close()

    rows = await rows_when_settled(database["url"], 3)
    assert [(r["frontend"], r["method"], r["status"]) for r in rows] == [
        ("openai", "Chat", "OK"),
        ("openai", "ChatStream", "OK"),
        ("openai", "Chat", "UNAUTHENTICATED"),
    ]
    assert rows[0]["input_tokens"] == completion.usage.prompt_tokens  # type: ignore[union-attr]
    assert rows[0]["key_id"] == KEY_ID and rows[0]["tenant"] == "acme"
    assert rows[2]["reason"] == "INVALID_API_KEY"


async def test_a_call_id_is_recorded_once_however_often_it_is_written(
    gateway: Gateway, connect: Callable[[Gateway], Client], database: dict[str, Any]
) -> None:
    """Two calls with the same request_id are two records (the call id is the gateway's own)."""
    client = connect(gateway)
    for _ in range(2):
        await unary(client, "same id", request_id="caller-chosen-1")
    rows = await rows_when_settled(database["url"], 2)
    assert [row["request_id"] for row in rows] == ["caller-chosen-1", "caller-chosen-1"]
    assert len({row["call_id"] for row in rows}) == 2
    await asyncio.sleep(0)


async def test_a_stream_past_its_deadline_has_its_record(
    gateway: Gateway, connect: Callable[[Gateway], Client], sim: OpenAISimulator, database: dict[str, Any]
) -> None:
    client = connect(gateway)
    sim.enqueue(Behaviour(inter_token=0.3))
    call = client.chat.ChatStream(stream_request("m", user("slow words " * 5)), timeout=1.0, metadata=AUTH)
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        _ = [message async for message in call]
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    (only,) = await rows_when_settled(database["url"], 1)
    assert only["status"] == "DEADLINE_EXCEEDED"
    assert only["ttft_us"] is not None, "some content reached the caller"
    assert only["input_tokens"] > 0 and only["cost_nano_usd"] > 0, "charged what the provider bills"
