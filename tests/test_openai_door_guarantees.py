"""The OpenAI door goes through the same core as gRPC, so it keeps the same guarantees; each is
proven here through the official Python SDK or raw HTTP on loopback: key limits (429 with
retry-after), budgets (429 insufficient_quota), the response cache (a cached answer replayed as a
normal event stream), PII redaction of prompts and of streamed output, metrics labelled
`frontend="openai"`, the HTTP server span as the parent of the core's attempt spans, and one access
log line per call."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.observability.logging_setup import ACCESS_LOGGER, JsonFormatter
from tests.conftest import StartGateway, gateway_config
from tests.openai_door import chat_body, chunks, door_url, events, post_chat, with_http
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY, KEY_ID, KEY_HASH = new_key()
EMAIL = "jane.doe@acme.io"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def simulator() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=None) as sim:
        yield sim


@pytest.fixture
def sim(simulator: OpenAISimulator) -> OpenAISimulator:
    simulator.reset()
    return simulator


def config(sim: OpenAISimulator, policy: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return with_http(
        {
            "auth": {
                "enabled": True,
                "keys": [{"id": KEY_ID, "hash": KEY_HASH, "tenant": "t", "policy": policy or {}}],
            },
            "providers": [{"name": "sim", "type": "openai", "base_url": sim.base_url}],
            "models": [
                {
                    "name": "m",
                    "deployments": [
                        {
                            "provider": "sim",
                            "model": "gpt-4o-mini",
                            "input_price_per_mtok": 5000,
                            "output_price_per_mtok": 5000,
                        }
                    ],
                }
            ],
            "routing": {"retry": {"max_retries": 0}},
            **extra,
        }
    )


@pytest.fixture
async def sdk() -> AsyncIterator[list[openai.AsyncOpenAI]]:
    opened: list[openai.AsyncOpenAI] = []
    yield opened
    for client in opened:
        await client.close()


def client_for(gateway: Gateway, opened: list[openai.AsyncOpenAI]) -> openai.AsyncOpenAI:
    opened.append(openai.AsyncOpenAI(base_url=door_url(gateway), api_key=KEY, max_retries=0, timeout=10))
    return opened[-1]


async def test_key_limits_are_429_with_retry_after(
    sim: OpenAISimulator, start_gateway: StartGateway, sdk: list[openai.AsyncOpenAI]
) -> None:
    client = client_for(await start_gateway(config(sim, {"rpm": 2})), sdk)
    for _ in range(2):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as raised:
        await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    assert raised.value.code == "rate_limited" and int(raised.value.response.headers["retry-after"]) >= 1
    assert len(sim.requests) == 2


async def test_a_spent_budget_is_insufficient_quota(
    sim: OpenAISimulator, start_gateway: StartGateway, sdk: list[openai.AsyncOpenAI]
) -> None:
    client = client_for(await start_gateway(config(sim, {"budget": {"usd": 0.01, "period": "day"}})), sdk)
    await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello there"}])
    with pytest.raises(openai.RateLimitError) as raised:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    body = raised.value.body
    assert isinstance(body, dict) and (body["type"], body["code"]) == (
        "insufficient_quota",
        "budget_exceeded",
    )
    assert "retry-after" not in raised.value.response.headers, "no retry helps until the period resets"


async def test_a_cached_answer_replays_as_a_normal_event_stream(
    sim: OpenAISimulator, start_gateway: StartGateway
) -> None:
    gateway = await start_gateway(config(sim, cache={"enabled": True, "ttl_s": 60}))
    body = chat_body(model="m", text="one two three", stream=True, stream_options={"include_usage": True})
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=door_url(gateway), timeout=10) as http:
        first = await post_chat(http, body, headers=headers)
        second = await post_chat(http, body, headers=headers)
        unary = await post_chat(http, {**body, "stream": False, "stream_options": None}, headers=headers)
    assert (first.headers["x-llmgateway-cache"], second.headers["x-llmgateway-cache"]) == ("miss", "hit")
    assert unary.headers["x-llmgateway-cache"] == "hit"
    assert len(sim.requests) == 1
    for answer in (first, second):
        parsed = chunks(answer.text)
        assert events(answer.text)[-1] == "[DONE]"
        assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in parsed if c["choices"]) == (
            "You said: one two three"
        )
        assert [c["choices"][0]["finish_reason"] for c in parsed if c["choices"]][-1] == "stop"
        assert next(c for c in parsed if not c["choices"])["usage"]["completion_tokens"] > 0
    assert unary.json()["choices"][0]["message"]["content"] == "You said: one two three"


async def test_pii_is_redacted_in_prompts_and_streamed_output(
    sim: OpenAISimulator, start_gateway: StartGateway, sdk: list[openai.AsyncOpenAI]
) -> None:
    client = client_for(
        await start_gateway(config(sim, {"pii": {"prompts": "redact", "output": "redact"}})), sdk
    )
    await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": f"mail {EMAIL} now"}]
    )
    sent = json.dumps(sim.requests[-1].body)
    assert EMAIL not in sent and "[EMAIL]" in sent
    sim.behaviour = Behaviour(reply_text=f"Write to {EMAIL} or call +1 415 555 0100 today.")
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "contact?"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Write to [EMAIL] or call [PHONE] today."


async def test_metrics_traces_and_access_log_name_the_openai_door(
    sim: OpenAISimulator, caplog: pytest.LogCaptureFixture, sdk: list[openai.AsyncOpenAI]
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    data = config(sim)
    data["server"]["metrics_listen"] = "127.0.0.1:0"
    gateway = Gateway(gateway_config(data), tracer_provider=tracer_provider)
    await gateway.start()
    try:
        client = client_for(gateway, sdk)
        traced = client.with_options(default_headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
        with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
            await traced.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            [_ async for _ in stream]
            with pytest.raises(openai.NotFoundError):
                await client.chat.completions.create(
                    model="nope", messages=[{"role": "user", "content": "hi"}]
                )
            async with asyncio.timeout(2):
                while len([r for r in caplog.records if r.name == ACCESS_LOGGER]) < 3:
                    await asyncio.sleep(0.01)
        assert gateway.metrics_server is not None
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{gateway.metrics_server.port}/metrics")).text
    finally:
        await gateway.shutdown()
    assert KEY not in text
    counted = {
        (s.labels["method"], s.labels["code"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "llmgateway_requests_total" and s.labels.get("frontend") == "openai"
    }
    assert counted == {("Chat", "OK"): 1, ("ChatStream", "OK"): 1, ("Chat", "NOT_FOUND"): 1}

    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [(line["frontend"], line["method"], line["code"]) for line in lines] == [
        ("openai", "Chat", "OK"),
        ("openai", "ChatStream", "OK"),
        ("openai", "Chat", "NOT_FOUND"),
    ]
    assert lines[0]["trace_id"] == TRACE_ID and KEY not in json.dumps(lines)

    spans = exporter.get_finished_spans()
    server = next(
        s for s in spans if s.kind is SpanKind.SERVER and format(s.context.trace_id, "032x") == TRACE_ID
    )
    assert server.name == "POST /v1/chat/completions"
    attempts = [
        s for s in spans if s.name.startswith("chat ") and s.context.trace_id == server.context.trace_id
    ]
    assert len(attempts) == 1 and attempts[0].parent is not None
    assert attempts[0].parent.span_id == server.context.span_id
