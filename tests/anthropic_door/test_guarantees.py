"""The gRPC door's guarantees through the Anthropic door, each with the SDK: a key's limits and
budget, the response cache (a hit replays as a normal event stream), PII redaction of prompts and
streamed answers, metrics labelled frontend="anthropic", the HTTP server span as the parent of the
core's attempt spans, and the access log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from llmgateway.app import Gateway
from llmgateway.auth.keys import new_key
from llmgateway.observability.logging_setup import ACCESS_LOGGER, JsonFormatter
from tests.anthropic_door.conftest import OpenSdk, Sims, door_config
from tests.conftest import StartGateway, gateway_config
from tests.upstreams.base import Behaviour

KEY, KEY_ID, KEY_HASH = new_key()
EMAIL = "jane.doe@acme.io"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def with_key(sims: Sims, **policy: Any) -> dict[str, Any]:
    key = {"id": KEY_ID, "hash": KEY_HASH, "tenant": "acme", "policy": policy}
    return door_config(sims, auth={"enabled": True, "keys": [key]})


def ask(text: str = "hello") -> dict[str, Any]:
    return {"max_tokens": 32, "messages": [{"role": "user", "content": text}]}


async def test_a_keys_rate_limit(sims: Sims, start_gateway: StartGateway, sdk: OpenSdk) -> None:
    client = sdk(await start_gateway(with_key(sims, rpm=2)), api_key=KEY)
    await client.messages.create(model="gpt", **ask())
    async with client.messages.stream(model="claude", **ask()) as stream:
        await stream.get_final_message()
    with pytest.raises(anthropic.RateLimitError) as failure:
        await client.messages.create(model="gpt", **ask())
    assert 25 <= int(failure.value.response.headers["retry-after"]) <= 30  # one call per 30 s
    assert failure.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


async def test_a_spent_budget(sims: Sims, start_gateway: StartGateway, sdk: OpenSdk) -> None:
    config = with_key(sims, budget={"usd": 0.01, "period": "day"})
    config["models"][0]["deployments"][0].update(input_price_per_mtok=5000, output_price_per_mtok=5000)
    client = sdk(await start_gateway(config), api_key=KEY)
    await client.messages.create(model="gpt", **ask("spend it all"))
    with pytest.raises(anthropic.RateLimitError) as failure:
        await client.messages.create(model="llama", **ask())
    headers = failure.value.response.headers
    assert "retry-after" not in headers and headers["x-should-retry"] == "false"
    assert "per day" in failure.value.message
    assert sims.ollama.requests == []


async def test_a_cached_answer_replays_as_a_normal_event_stream(
    sims: Sims, start_gateway: StartGateway, sdk: OpenSdk
) -> None:
    client = sdk(await start_gateway(door_config(sims, cache={"enabled": True})))
    sims.gemini.behaviour = Behaviour(reply_text="cached words come back")

    async def streamed() -> tuple[httpx.Headers, list[Any]]:
        stream = await client.messages.create(model="gemini", stream=True, **ask("cache me"))
        return stream.response.headers, [event async for event in stream]

    miss_headers, miss = await streamed()
    hit_headers, hit = await streamed()
    assert (miss_headers["x-llmgateway-cache"], hit_headers["x-llmgateway-cache"]) == ("miss", "hit")
    assert len(sims.gemini.requests) == 1
    kinds = [event.type for event in hit]
    assert kinds[:2] == ["message_start", "content_block_start"] and kinds[-3:] == [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    texts = [[e.delta.text for e in events if e.type == "content_block_delta"] for events in (miss, hit)]
    assert "".join(texts[1]) == "".join(texts[0]) == "cached words come back"
    assert hit[-2].usage.output_tokens == miss[-2].usage.output_tokens > 0
    unary = await client.messages.with_raw_response.create(model="gemini", **ask("cache me"))
    assert unary.headers["x-llmgateway-cache"] == "hit"
    assert (await unary.parse()).content[0].text == "cached words come back"


async def test_pii_is_redacted_in_prompts_and_streamed_answers(
    sims: Sims, start_gateway: StartGateway, sdk: OpenSdk
) -> None:
    client = sdk(
        await start_gateway(with_key(sims, pii={"prompts": "redact", "output": "redact"})), api_key=KEY
    )
    sims.anthropic.behaviour = Behaviour(reply_text=f"Write to {EMAIL} or call +1 415 555 0100 today.")
    async with client.messages.stream(
        model="claude", system=f"The user is {EMAIL}.", **ask(f"mail me at {EMAIL}")
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
    sent = json.dumps(sims.anthropic.requests[-1].body)
    assert EMAIL not in sent and sent.count("[EMAIL]") == 2
    assert text == "Write to [EMAIL] or call [PHONE] today."


@pytest.fixture
async def observed(sims: Sims) -> AsyncIterator[tuple[Gateway, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = with_key(sims)
    config["server"]["metrics_listen"] = "127.0.0.1:0"
    gateway = Gateway(gateway_config(config), tracer_provider=provider)
    await gateway.start()
    yield gateway, exporter
    await gateway.shutdown()


def scrape(gateway: Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert gateway.metrics_server is not None
    text = httpx.get(f"http://127.0.0.1:{gateway.metrics_server.port}/metrics", timeout=5).text
    assert KEY not in text, "no key in any label"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_traces_and_access_log(
    observed: tuple[Gateway, InMemorySpanExporter], sims: Sims, sdk: OpenSdk, caplog: pytest.LogCaptureFixture
) -> None:
    gateway, exporter = observed
    client = sdk(gateway, api_key=KEY)
    sims.bedrock.enqueue(Behaviour(status=503))  # one failed attempt, then the retry serves
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        await client.messages.create(model="gpt", **ask())
        traceparent = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        retried = sdk(gateway, api_key=KEY, max_retries=1)
        async with retried.messages.stream(model="nova", extra_headers=traceparent, **ask()) as stream:
            await stream.get_final_message()
        with pytest.raises(anthropic.NotFoundError):
            await client.messages.create(model="nope", **ask())
        async with asyncio.timeout(2):
            while len([r for r in caplog.records if r.name == ACCESS_LOGGER]) < 4:
                await asyncio.sleep(0.01)

    samples = scrape(gateway)
    requests = "llmgateway_requests_total"

    def count(method: str, model: str, provider: str, code: str) -> float:
        labels = {
            "frontend": "anthropic",
            "method": method,
            "model": model,
            "provider": provider,
            "code": code,
        }
        return samples.get((requests, tuple(sorted(labels.items()))), 0.0)

    assert count("Chat", "gpt", "openai", "OK") == 1
    assert count("ChatStream", "nova", "bedrock", "UNAVAILABLE") == 1, "the SDK's first try"
    assert count("ChatStream", "nova", "bedrock", "OK") == 1, "its retry"
    assert count("Chat", "unknown", "", "NOT_FOUND") == 1

    spans = exporter.get_finished_spans()
    traced = [s for s in spans if format(s.context.trace_id, "032x") == TRACE_ID]
    servers = [s for s in traced if s.kind is SpanKind.SERVER]
    assert [s.name for s in servers] == ["POST /v1/messages"] * 2
    attempts = [s for s in traced if s.name.startswith("chat ")]
    assert len(attempts) == 2 and {a.parent.span_id for a in attempts if a.parent} == {
        s.context.span_id for s in servers
    }
    assert [dict(s.attributes or {})["http.response.status_code"] for s in servers] == [503, 200]

    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert {line["frontend"] for line in lines} == {"anthropic"}
    assert [line["code"] for line in lines] == ["OK", "UNAVAILABLE", "OK", "NOT_FOUND"]
    assert lines[0]["tenant"] == "acme" and lines[0]["provider"] == "openai"
    assert KEY not in caplog.text
