"""Every span attribute the gateway sets is named as OpenTelemetry's semantic conventions name it
today: checked against the opentelemetry-semantic-conventions package from PyPI (its attribute
modules and their deprecation notes), not against a list of our own."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2, chat_pb2_grpc
from tests.conftest import chat_request, gateway_config, stream_request, user
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY = "sk-semconv-0123456789"
# Deprecated names sent on purpose beside their replacement, while backends move over.
TRANSITIONAL = {"gen_ai.system"}
_CONSTANT = re.compile(r'^[A-Z0-9_]+: Final = "([^"]+)"\n"""\n(.*?)"""', re.MULTILINE | re.DOTALL)


def conventions() -> dict[str, bool]:
    """Every attribute name the package defines, and whether its note says it is deprecated
    ("Deprecated: Replaced by …"). Two notes only say where a name now lives, so they are not
    retirements: the incubating modules' copies of stable names ("Deprecated in favor of stable …")
    and the GenAI names ("Deprecated: Moved to the OpenTelemetry GenAI semantic conventions
    repository", which publishes no Python package yet)."""
    names: dict[str, bool] = {}
    for package in ("opentelemetry.semconv.attributes", "opentelemetry.semconv._incubating.attributes"):
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__):
            source = Path(module.__path__[0], f"{info.name}.py").read_text()
            for name, note in _CONSTANT.findall(source):
                said = note.lstrip()
                retired = said.startswith("Deprecated:") and not said.startswith("Deprecated: Moved to")
                names[name] = names.get(name, False) or retired
    return names


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_key=KEY) as simulator:
        yield simulator


async def spans_of_real_calls(sim: OpenAISimulator) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    data = {
        "server": {"http_listen": "127.0.0.1:0"},
        "providers": [{"name": "oa", "type": "openai", "base_url": sim.base_url, "api_key": KEY}],
        "models": [{"name": "m", "deployments": [{"provider": "oa", "model": "gpt-4o-mini"}]}],
        "routing": {"retry": {"max_retries": 0}},
        "observability": {"tracing": {"trace_health_and_reflection": True}},
    }
    gateway = Gateway(gateway_config(data), tracer_provider=provider)
    await gateway.start()
    config = chat_pb2.GenerationConfig(
        temperature=0.5, top_p=0.9, max_output_tokens=50, stop_sequences=["END"]
    )
    try:
        async with grpc.aio.insecure_channel(gateway.address) as channel:
            chat = chat_pb2_grpc.ChatServiceStub(channel)
            await chat.Chat(chat_request("m", user("hello"), generation_config=config), timeout=5)
            async for _ in chat.ChatStream(stream_request("m", user("hello")), timeout=5):
                pass
            sim.behaviour = Behaviour(status=503)
            with pytest.raises(grpc.aio.AioRpcError):
                await chat.Chat(chat_request("m", user("hello")), timeout=5)
            sim.behaviour = Behaviour()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.http_port}") as http:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
            assert (await http.get("/health/ready")).status_code == 200
    finally:
        await gateway.shutdown()
    return list(exporter.get_finished_spans())


async def test_every_attribute_is_a_current_convention(sim: OpenAISimulator) -> None:
    known = conventions()
    assert "gen_ai.provider.name" in known and known["gen_ai.system"], "the package lost what we test against"
    spans = await spans_of_real_calls(sim)
    used = {key for span in spans for key in (span.attributes or {}) if not key.startswith("llmgateway.")}
    unknown = sorted(key for key in used if key not in known)
    deprecated = sorted(key for key in used if known.get(key) and key not in TRANSITIONAL)
    assert (unknown, deprecated) == ([], []), "attribute names the conventions do not define, or retired"
    assert used >= TRANSITIONAL


async def test_attempt_spans_carry_the_genai_request_response_and_server(sim: OpenAISimulator) -> None:
    spans = await spans_of_real_calls(sim)
    [unary, stream, failed, via_http] = [s for s in spans if s.name.startswith("chat ")]
    attributes: dict[str, Any] = dict(unary.attributes or {})
    assert attributes["gen_ai.provider.name"] == attributes["gen_ai.system"] == "openai"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert (
        attributes["gen_ai.request.temperature"],
        attributes["gen_ai.request.top_p"],
        attributes["gen_ai.request.max_tokens"],
        tuple(attributes["gen_ai.request.stop_sequences"]),
    ) == (pytest.approx(0.5), pytest.approx(0.9), 50, ("END",))
    assert (attributes["server.address"], attributes["server.port"]) == (
        "127.0.0.1",
        int(sim.base_url.rsplit(":", 1)[1].split("/")[0]),
    )
    assert attributes["gen_ai.response.id"] and attributes["gen_ai.usage.input_tokens"]
    assert dict(stream.attributes or {})["gen_ai.response.id"]
    assert "gen_ai.request.temperature" not in dict(stream.attributes or {}), "only what the caller set"
    assert dict(failed.attributes or {})["error.type"] == "UPSTREAM_UNAVAILABLE"
    assert dict(via_http.attributes or {})["gen_ai.request.temperature"] == pytest.approx(0.2)
