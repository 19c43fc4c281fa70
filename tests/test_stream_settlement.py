"""A stream is charged however it ends — read to the end, failed upstream midway, cancelled by its
caller, cut by its deadline, cut by the gateway's shutdown — in the memory and the Redis store: the prompt and the
output actually sent reach the key's TPM and budget, the access log and the token metrics, once,
after the call has ended.

Before, the layers of a stream were left to the garbage collector when the caller went away: the
relay's `finally`, which charges a cut stream, ran after settlement and the access log, so a caller
could bypass TPM limits and budgets by cancelling streams just before they ended."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.observability.logging_setup import ACCESS_LOGGER, JsonFormatter
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, stream_request, user
from tests.rich_status import rich_status
from tests.upstreams.openai import Behaviour, OpenAISimulator

pytest_plugins = ["tests.redis_fixtures"]

PROMPT = " ".join(f"w{i:02d}" for i in range(60))  # 240 characters: an estimate of 60 tokens
MAX_OUTPUT = 80  # the reply is "You said: " and the 60 words: 62 chunks, one token each
ESTIMATE = 60 + MAX_OUTPUT  # what admission reserves for one call
READ_BEFORE_ENDING = 30  # content messages the caller reads before it ends the stream
# A TPM that admits one call and, once it is charged what it used (at least the 60-token prompt
# and the 30 tokens read), not a second one; a call charged nothing would leave room for it.
TPM = ESTIMATE + 60
PRICE_PER_MTOK = 5000.0  # one token costs half a cent
BUDGET_USD = 0.01  # exceeded by any charged stream (~90 tokens: ~$0.45)

ENDINGS = ["finish", "error", "cancel", "deadline", "shutdown"]


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=None) as simulator:
        yield simulator


def config(sim: OpenAISimulator, store: dict[str, Any], keys: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "server": {"grace_s": 1.0},  # the gateway cuts what is left 0.5 s before its end
        "auth": {"enabled": True, "keys": keys},
        "store": store,
        "providers": [{"name": "sim", "type": "openai", "base_url": sim.base_url}],
        "models": [
            {
                "name": "paced",
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


def paced_request(**fields: Any) -> Any:
    generation = chat_pb2.GenerationConfig(max_output_tokens=MAX_OUTPUT)
    return stream_request("paced", user(PROMPT), generation_config=generation, **fields)


async def end_a_stream(client: Client, gateway: Gateway, metadata: Any, ending: str) -> tuple[int, str]:
    """One stream, ended the given way after READ_BEFORE_ENDING content messages (the deadline is
    set to pass about then); the content messages the caller received and the final code (with the
    reason, for a status that has one)."""
    timeout = 0.02 * READ_BEFORE_ENDING + 0.25 if ending == "deadline" else 30
    call = client.chat.ChatStream(paced_request(), timeout=timeout, metadata=metadata)
    received = 0
    code = "OK"
    try:
        async for message in call:
            if message.HasField("delta"):
                received += 1
            if received == READ_BEFORE_ENDING and ending == "cancel":
                call.cancel()
                code = "CANCELLED"
                break
            if received == READ_BEFORE_ENDING and ending == "shutdown":
                await gateway.shutdown()  # grace 1 s: the stream (another 1.6 s) is cut
    except grpc.aio.AioRpcError as error:
        code = error.code().name
        if error.trailing_metadata():
            status = rich_status(error)
            code = f"{code} {status.reason} {status.error_info.metadata.get('cause', '')}".strip()
    if code == "OK":
        code = (await call.code()).name
    return received, code


async def access_line(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while not any(r.name == ACCESS_LOGGER for r in caplog.records):
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # a second line (a call reported twice) would show now
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 1, lines
    line: dict[str, Any] = lines[0]
    return line


@pytest.mark.parametrize("backend", ["memory", "redis"])
@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_stream_is_charged_however_it_ends(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    sim: OpenAISimulator,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
    backend: str,
    ending: str,
) -> None:
    sim.reset()
    sim.behaviour = Behaviour(
        inter_token=0.05 if ending == "shutdown" else 0.02,
        reset_after=READ_BEFORE_ENDING + 2 if ending == "error" else None,  # "You said:" is two chunks
    )
    store: dict[str, Any] = {"backend": "memory"}
    if backend == "redis":
        store = {"backend": "redis", "redis_url": request.getfixturevalue("redis_url")}
    tpm_key, tpm_id, tpm_hash = new_key()
    budget_key, budget_id, budget_hash = new_key()
    keys = [
        {"id": tpm_id, "hash": tpm_hash, "tenant": "t", "policy": {"tpm": TPM}},
        {
            "id": budget_id,
            "hash": budget_hash,
            "tenant": "t",
            "policy": {"budget": {"usd": BUDGET_USD, "period": "day"}},
        },
    ]
    gateway = await start_gateway(config(sim, store, keys))
    client = connect(gateway)
    as_tpm_key = (("authorization", f"Bearer {tpm_key}"),)
    as_budget_key = (("authorization", f"Bearer {budget_key}"),)

    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        received, code = await end_a_stream(client, gateway, as_budget_key, ending)
        line = await access_line(caplog)
    expected_code = {
        "finish": "OK",
        "error": "UNAVAILABLE STREAM_INTERRUPTED UPSTREAM_CONNECTION_LOST",
        "cancel": "CANCELLED",
        "deadline": "DEADLINE_EXCEEDED",
        "shutdown": "UNAVAILABLE STREAM_INTERRUPTED SHUTTING_DOWN",  # not a bare "Cancelling all calls"
    }[ending]
    # (a deadline may be noticed by the gateway first: DEADLINE_EXCEEDED with its reason)
    assert code == expected_code if ending in ("error", "shutdown") else code.split()[0] == expected_code
    assert line["code"] == expected_code.split()[0]
    assert received >= READ_BEFORE_ENDING - 2 if ending == "deadline" else received >= READ_BEFORE_ENDING
    # The prompt (reported by the provider at the end, else estimated) and at least the output sent.
    assert line["input_tokens"] == 60
    assert line["output_tokens"] >= received
    assert line["cost_usd"] == pytest.approx(
        (line["input_tokens"] + line["output_tokens"]) * PRICE_PER_MTOK / 1e6
    )
    tokens = {
        direction: gateway.metrics.tokens.labels("paced", "sim", direction)._value.get()
        for direction in ("input", "output")
    }
    assert tokens == {"input": line["input_tokens"], "output": line["output_tokens"]}

    if ending == "shutdown":
        if backend == "memory":
            return  # the limits died with the gateway; the access log and metrics above are all
        gateway = await start_gateway(config(sim, store, keys))  # a replica on the same Redis
        client = connect(gateway)
    else:
        # The TPM key: one stream ended the same way, then a second is refused.
        caplog.clear()
        await end_a_stream(client, gateway, as_tpm_key, ending)
        refused = client.chat.ChatStream(paced_request(), timeout=5, metadata=as_tpm_key)
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await refused.read()
        assert rich_status(failure.value).reason == "RATE_LIMITED"
    # The budget key's spend went past its budget: its next call is refused before any upstream.
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("paced", user("hi")), timeout=5, metadata=as_budget_key)
    assert rich_status(failure.value).reason == "BUDGET_EXCEEDED"


@pytest.mark.parametrize("method", ["Chat", "ChatStream"])
@pytest.mark.parametrize("ending", ["cancel", "deadline"])
async def test_a_call_cut_before_any_output_is_charged_its_prompt(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    sim: OpenAISimulator,
    caplog: pytest.LogCaptureFixture,
    method: str,
    ending: str,
) -> None:
    """The provider had the request (and bills its prompt) when the caller went away before any
    usage was known: the prompt's estimate is charged, with its cost."""
    sim.reset()
    sim.behaviour = Behaviour(latency=3.0) if method == "Chat" else Behaviour(ttft=3.0)
    budget_key, budget_id, budget_hash = new_key()
    keys = [
        {
            "id": budget_id,
            "hash": budget_hash,
            "tenant": "t",
            "policy": {"budget": {"usd": BUDGET_USD, "period": "day"}},
        }
    ]
    client = connect(await start_gateway(config(sim, {"backend": "memory"}, keys)))
    metadata = (("authorization", f"Bearer {budget_key}"),)
    timeout = 0.5 if ending == "deadline" else 30
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        if method == "Chat":
            call: Any = client.chat.Chat(
                chat_request("paced", user(PROMPT)), timeout=timeout, metadata=metadata
            )
        else:
            call = client.chat.ChatStream(paced_request(), timeout=timeout, metadata=metadata)
        if ending == "cancel":
            await asyncio.sleep(0.5)
            call.cancel()
        assert (await call.code()).name == ("CANCELLED" if ending == "cancel" else "DEADLINE_EXCEEDED")
        line = await access_line(caplog)
    assert (line["input_tokens"], line["output_tokens"]) == (60, 0)
    assert line["cost_usd"] == pytest.approx(60 * PRICE_PER_MTOK / 1e6)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.chat.Chat(chat_request("paced", user("hi")), timeout=5, metadata=metadata)
    assert rich_status(failure.value).reason == "BUDGET_EXCEEDED"


async def test_a_runaway_stream_is_cut_past_max_output_tokens(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    sim: OpenAISimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An upstream that goes on past max_output_tokens (one was relayed 232,309 deltas until the
    caller's deadline) is cut by the gateway: the stream ends with FINISH_REASON_LENGTH, usage and
    OK, and the upstream call is closed."""
    sim.reset()
    sim.behaviour = Behaviour(reply_text="word " * 5000, inter_token=0.001, ignore_max_tokens=True)
    key, key_id, key_hash = new_key()
    keys = [{"id": key_id, "hash": key_hash, "tenant": "t"}]
    client = connect(await start_gateway(config(sim, {"backend": "memory"}, keys)))
    generation = chat_pb2.GenerationConfig(max_output_tokens=10)
    call = client.chat.ChatStream(
        stream_request("paced", user("go on"), generation_config=generation),
        timeout=30,
        metadata=(("authorization", f"Bearer {key}"),),
    )
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        messages = [m async for m in call]
        line = await access_line(caplog)
    assert await call.code() == grpc.StatusCode.OK
    content = [m for m in messages if m.HasField("delta") or m.finish_reason]
    text = "".join(m.delta.text for m in content)
    # Cut once the output's estimate passes twice the limit plus 64 tokens: 84 tokens, ~340 characters.
    assert 84 * 4 < len(text) <= 84 * 4 + 10
    assert content[-1].finish_reason == chat_pb2.FINISH_REASON_LENGTH
    assert messages[-1].usage.output_tokens == line["output_tokens"] >= len(text) // 4
    await sim.wait_for_disconnects(1)  # the gateway closed the upstream call
    assert sim.completed == 0


async def test_a_unary_call_cut_by_a_shutdown_says_so_and_is_charged(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    sim: OpenAISimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A unary call still waiting on its provider when the grace period ends: UNAVAILABLE
    SHUTTING_DOWN with RetryInfo (not grpc.aio's bare "Cancelling all calls"), charged its prompt."""
    sim.reset()
    sim.behaviour = Behaviour(latency=5.0)
    key, key_id, key_hash = new_key()
    keys = [{"id": key_id, "hash": key_hash, "tenant": "t"}]
    gateway = await start_gateway(config(sim, {"backend": "memory"}, keys))
    client = connect(gateway)
    call = client.chat.Chat(
        chat_request("paced", user(PROMPT)), timeout=30, metadata=(("authorization", f"Bearer {key}"),)
    )
    await asyncio.sleep(0.3)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        await gateway.shutdown()  # grace 1 s: cut at 0.5 s
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await call
        line = await access_line(caplog)
    status = rich_status(failure.value)
    assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
    assert (line["code"], line["reason"], line["input_tokens"]) == ("UNAVAILABLE", "SHUTTING_DOWN", 60)
