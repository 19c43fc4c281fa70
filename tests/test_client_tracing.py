"""The Python client's `tracing` option against a real gateway: the caller's trace continues through
the client's CLIENT span into the gateway's SERVER span, for the blocking and the asyncio client."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmgateway.app import Gateway
from llmgateway.client import AsyncClient, Client, text_request
from tests.conftest import gateway_config

CHAT = "/llmgateway.v1.ChatService/Chat"


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, InMemorySpanExporter]]:
    provider, exporter = traced()
    config = {
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [{"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]}],
    }
    started = Gateway(gateway_config(config), tracer_provider=provider)
    await started.start()
    yield started, exporter
    await started.shutdown()


async def server_span(exporter: InMemorySpanExporter, count: int) -> ReadableSpan:
    """The newest server span once `count` have ended (a handler ends just after its caller returns)."""
    async with asyncio.timeout(2):
        while len(spans := [s for s in exporter.get_finished_spans() if s.name == CHAT]) < count:
            await asyncio.sleep(0.01)
    return spans[-1]


def assert_continues(client_spans: InMemorySpanExporter, server: ReadableSpan) -> ReadableSpan:
    """The caller's span ("handle order"), its client's Chat span and the gateway's server span form
    one trace, each the parent of the next; returns the caller's span."""
    finished = client_spans.get_finished_spans()
    caller = next(s for s in finished if s.name == "handle order")
    client = next(s for s in finished if s.name == CHAT)
    assert client.kind is SpanKind.CLIENT
    assert client.parent is not None and client.parent.span_id == caller.context.span_id
    assert server.context.trace_id == caller.context.trace_id, "one trace from caller to gateway"
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    return caller


async def test_async_client_continues_the_callers_trace(
    gateway: tuple[Gateway, InMemorySpanExporter],
) -> None:
    served, server_spans = gateway
    provider, client_spans = traced()
    async with AsyncClient(served.address, tls=False, tracing=provider) as client:
        with provider.get_tracer("caller").start_as_current_span("handle order"):
            await client.chat(text_request("echo", "hi"))
    server = await server_span(server_spans, 1)
    assert_continues(client_spans, server)


async def test_blocking_client_continues_the_callers_trace(
    gateway: tuple[Gateway, InMemorySpanExporter],
) -> None:
    served, server_spans = gateway
    provider, client_spans = traced()

    def call() -> None:
        tracer = provider.get_tracer("caller")
        with (
            Client(served.address, tls=False, tracing=provider) as client,
            tracer.start_as_current_span("handle order"),
        ):
            client.chat(text_request("echo", "hi"))
            assert "".join(c.delta.text for c in client.chat_stream(text_request("echo", "a b"))) == "a b"

    await asyncio.to_thread(call)  # the gateway serves on this loop: block another thread
    server = await server_span(server_spans, 1)
    caller = assert_continues(client_spans, server)
    streamed = next(s for s in client_spans.get_finished_spans() if s.name.endswith("/ChatStream"))
    assert streamed.kind is SpanKind.CLIENT and streamed.context.trace_id == caller.context.trace_id


async def test_without_tracing_the_gateway_starts_its_own_trace(
    gateway: tuple[Gateway, InMemorySpanExporter],
) -> None:
    served, server_spans = gateway
    provider, client_spans = traced()
    async with AsyncClient(served.address, tls=False) as client:
        with provider.get_tracer("caller").start_as_current_span("handle order") as caller:
            await client.chat(text_request("echo", "hi"))
    server = await server_span(server_spans, 1)
    assert server.parent is None and server.context.trace_id != caller.get_span_context().trace_id
    assert [s.name for s in client_spans.get_finished_spans()] == ["handle order"]


def test_tracing_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_instrumentation(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry.instrumentation"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_instrumentation)
    with pytest.raises(ImportError, match=r"llmgateway-client\[tracing\]"):
        Client("127.0.0.1:1", tls=False, tracing=True)
    Client("127.0.0.1:1", tls=False).close()  # no tracing: no import
