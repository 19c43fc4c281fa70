"""Metrics scraped from /metrics after real calls, the span tree from an in-memory exporter, and the
parsed access log."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from unittest import mock

import grpc
import httpx
import prometheus_client
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llmgateway.app import Gateway
from llmgateway.core.report import cost_for_people
from llmgateway.observability.logging_setup import ACCESS_LOGGER, JsonFormatter, configure_logging
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.v1 import chat_pb2
from tests.conftest import Client, StartGateway, chat_request, gateway_config, stream_request, user
from tests.upstreams.openai import Behaviour, OpenAISimulator

KEY = "sk-observability-secret-123456"
PROMPT = "my secret prompt text"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[OpenAISimulator, OpenAISimulator]]:
    with OpenAISimulator(api_key=KEY) as a, OpenAISimulator(api_key=KEY) as b:
        yield a, b


def config(a: OpenAISimulator, b: OpenAISimulator, propagate: bool = False) -> dict[str, Any]:
    return {
        "server": {"metrics_listen": "127.0.0.1:0"},
        "providers": [
            {"name": "echo", "type": "echo"},
            {
                "name": "pa",
                "type": "openai",
                "base_url": a.base_url,
                "api_key": KEY,
                "propagate_trace_context": propagate,
            },
            {"name": "pb", "type": "openai", "base_url": b.base_url, "api_key": KEY},
        ],
        "models": [
            {"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]},
            {
                "name": "primary",
                "deployments": [{"provider": "pa", "model": "gpt-4o-mini"}],
                "fallbacks": ["backup"],
            },
            {"name": "backup", "deployments": [{"provider": "pb", "model": "gpt-4o"}]},
        ],
        "routing": {"retry": {"max_retries": 1, "base_delay_s": 0.01}},
    }


@pytest.fixture
async def observed(
    sims: tuple[OpenAISimulator, OpenAISimulator], connect: Callable[[Gateway], Client]
) -> AsyncIterator[tuple[Gateway, Client, InMemorySpanExporter]]:
    a, b = sims
    a.reset()
    b.reset()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gateway = Gateway(gateway_config(config(a, b)), tracer_provider=provider)
    await gateway.start()
    yield gateway, connect(gateway), exporter
    await gateway.shutdown()


def scrape(gateway: Gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert gateway.metrics_server is not None
    text = httpx.get(f"http://127.0.0.1:{gateway.metrics_server.port}/metrics", timeout=5).text
    assert KEY not in text and PROMPT not in text, "no secret or prompt in any label"
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_after_real_calls(
    observed: tuple[Gateway, Client, InMemorySpanExporter], sims: tuple[OpenAISimulator, OpenAISimulator]
) -> None:
    gateway, client, _ = observed
    a, _ = sims
    await client.chat.Chat(chat_request("echo", user(PROMPT)), timeout=5)
    async for _ in client.chat.ChatStream(stream_request("echo", user("one two three")), timeout=5):
        pass
    with pytest.raises(grpc.aio.AioRpcError):
        await client.chat.Chat(chat_request("no-such-model", user("x")), timeout=5)
    a.behaviour = Behaviour(status=503)
    await client.chat.Chat(chat_request("primary", user("hi")), timeout=5)  # 2 attempts on pa, then pb
    # Server-side counters move when each handler finishes, which can be just after the caller returns.
    grpc_labels = {"grpc_type": "unary", "grpc_service": "llmgateway.v1.ChatService", "grpc_method": "Chat"}
    handled = {**grpc_labels, "grpc_code": "OK"}
    async with asyncio.timeout(2):
        while value(samples := scrape(gateway), "grpc_server_handled_total", **handled) < 2:
            await asyncio.sleep(0.01)

    requests = "llmgateway_requests_total"
    assert (
        value(samples, requests, frontend="grpc", method="Chat", model="echo", provider="echo", code="OK")
        == 1
    )
    assert (
        value(
            samples, requests, frontend="grpc", method="ChatStream", model="echo", provider="echo", code="OK"
        )
        == 1
    )
    assert (
        value(
            samples, requests, frontend="grpc", method="Chat", model="unknown", provider="", code="NOT_FOUND"
        )
        == 1
    )
    assert (
        value(samples, requests, frontend="grpc", method="Chat", model="backup", provider="pb", code="OK")
        == 1
    )
    assert (
        value(samples, "llmgateway_tokens_total", model="echo", provider="echo", direction="input") == 4 + 3
    )
    assert (
        value(samples, "llmgateway_tokens_total", model="echo", provider="echo", direction="output") == 4 + 3
    )
    assert value(samples, "llmgateway_time_to_first_token_seconds_count", model="echo", provider="echo") == 1
    assert (
        value(samples, "llmgateway_inter_token_seconds_count", model="echo", provider="echo") == 3
    )  # 4 content messages
    assert (
        value(
            samples, "llmgateway_request_duration_seconds_count", frontend="grpc", method="Chat", model="echo"
        )
        == 1
    )
    assert value(samples, "llmgateway_overhead_seconds_count", method="Chat") == 3
    attempts = "llmgateway_upstream_attempts_total"
    assert (
        value(samples, attempts, provider="pa", deployment="pa/gpt-4o-mini", outcome="UPSTREAM_UNAVAILABLE")
        == 2
    )
    assert value(samples, attempts, provider="pb", deployment="pb/gpt-4o", outcome="OK") == 1
    assert value(samples, "llmgateway_fallbacks_total", model="primary", fallback_model="backup") == 1
    assert ("llmgateway_breaker_state", (("deployment", "pa/gpt-4o-mini"),)) in samples
    assert value(samples, "llmgateway_in_flight", method="Chat") == 0
    assert value(samples, "grpc_server_started_total", **grpc_labels) == 3
    assert value(samples, "grpc_server_handled_total", **grpc_labels, grpc_code="NOT_FOUND") == 1
    assert value(samples, "grpc_server_handling_seconds_count", **grpc_labels) == 3


async def test_span_tree_with_caller_traceparent(
    observed: tuple[Gateway, Client, InMemorySpanExporter], sims: tuple[OpenAISimulator, OpenAISimulator]
) -> None:
    _, client, exporter = observed
    a, _ = sims
    a.enqueue(Behaviour(status=503), Behaviour(status=503))
    metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN}-01"),)
    call = client.chat.ChatStream(stream_request("primary", user("trace me")), timeout=5, metadata=metadata)
    async for _ in call:
        pass
    spans = exporter.get_finished_spans()
    server = next(s for s in spans if s.name == "/llmgateway.v1.ChatService/ChatStream")
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT_SPAN
    attempts = [s for s in spans if s.name.startswith("chat ")]
    assert [s.attributes["gen_ai.request.model"] for s in attempts if s.attributes] == [
        "gpt-4o-mini",
        "gpt-4o-mini",
        "gpt-4o",
    ]
    assert all(s.parent is not None and s.parent.span_id == server.context.span_id for s in attempts)
    ok = attempts[-1]
    assert ok.attributes is not None
    assert ok.attributes["gen_ai.system"] == "openai"
    assert ok.attributes["gen_ai.operation.name"] == "chat"
    assert str(ok.attributes["gen_ai.response.model"]).startswith("gpt-4o")
    assert ok.attributes["gen_ai.usage.input_tokens"] > 0  # type: ignore[operator]
    assert ok.attributes["gen_ai.usage.output_tokens"] > 0  # type: ignore[operator]
    assert tuple(ok.attributes["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]
    assert [e.name for e in ok.events] == ["first_token"]
    failed = attempts[0]
    assert failed.attributes is not None and failed.attributes["error.type"] == "UPSTREAM_UNAVAILABLE"
    server_events = [e.name for e in server.events]
    assert "retry" in server_events and "fallback" in server_events


async def test_server_span_follows_the_rpc_conventions(
    observed: tuple[Gateway, Client, InMemorySpanExporter], sims: tuple[OpenAISimulator, OpenAISimulator]
) -> None:
    """Each call's SERVER span: OpenTelemetry's RPC attributes, the final gRPC code, and an error
    status only for the codes the conventions call server failures."""
    _, client, exporter = observed
    a, b = sims
    await client.chat.Chat(chat_request("echo", user("hi")), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError):
        await client.chat.Chat(chat_request("no-such-model", user("x")), timeout=5)
    a.behaviour = Behaviour(status=503)
    b.behaviour = Behaviour(status=503)
    with pytest.raises(grpc.aio.AioRpcError):
        await client.chat.Chat(chat_request("primary", user("x")), timeout=5)
    async with asyncio.timeout(2):
        while len(servers := [s for s in exporter.get_finished_spans() if s.name.endswith("/Chat")]) < 3:
            await asyncio.sleep(0.01)
    ok, not_found, unavailable = servers
    assert ok.kind is SpanKind.SERVER and ok.parent is None
    assert ok.attributes is not None
    assert {k: ok.attributes[k] for k in ("rpc.system.name", "rpc.method")} == {
        "rpc.system.name": "grpc",
        "rpc.method": "llmgateway.v1.ChatService/Chat",
    }
    assert ok.attributes["network.peer.address"] == "127.0.0.1"
    assert isinstance(ok.attributes["network.peer.port"], int)
    assert "grpc-python" in str(ok.attributes["user_agent.original"])
    assert ok.attributes["rpc.response.status_code"] == "OK" and ok.status.status_code is StatusCode.UNSET
    assert (
        not_found.attributes is not None and not_found.attributes["rpc.response.status_code"] == "NOT_FOUND"
    )
    assert not_found.status.status_code is StatusCode.UNSET, "a caller's mistake is not a server error"
    assert unavailable.attributes is not None
    assert unavailable.attributes["rpc.response.status_code"] == "UNAVAILABLE"
    assert unavailable.status.status_code is StatusCode.ERROR
    assert str(unavailable.status.description).startswith("StatusCode.UNAVAILABLE:")
    assert [e.name for e in unavailable.events if e.name == "exception"] == [], "an abort is no exception"


async def probe_everything(gateway: Gateway) -> None:
    """One reflection call (what grpcurl asks first, the gateway's one bidirectional method), one
    gRPC health check and both HTTP health checks: what Kubernetes and tools do all day."""
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        # The stubs are typed for blocking channels; this one is grpc.aio.
        stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[arg-type]
        call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        replies = [reply async for reply in call]
        assert "llmgateway.v1.ChatService" in [s.name for s in replies[0].list_services_response.service]
        health: Any = health_pb2_grpc.HealthStub(channel)
        await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.http_port}") as http:
        for path in ("/health/live", "/health/ready"):
            assert (await http.get(path)).status_code == 200


PROBE_SPANS = {
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "/grpc.health.v1.Health/Check",
    "GET /health/live",
    "GET /health/ready",
}


@pytest.mark.parametrize("traced", [False, True])
async def test_probes_are_counted_and_traced_only_when_asked(
    traced: bool, sims: tuple[OpenAISimulator, OpenAISimulator]
) -> None:
    """Health checks and reflection make no spans unless observability.tracing says so (probes
    every few seconds would bury the traffic's traces); their gRPC server metrics stay."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    data = {
        **config(*sims),
        "server": {"http_listen": "127.0.0.1:0", "metrics_listen": "127.0.0.1:0"},
        "observability": {"tracing": {"trace_health_and_reflection": traced}},
    }
    gateway = Gateway(gateway_config(data), tracer_provider=provider)
    await gateway.start()
    try:
        await probe_everything(gateway)
        await asyncio.sleep(0.1)  # a bidirectional call's span ends just after its last reply
        samples = scrape(gateway)
    finally:
        await gateway.shutdown()
    names = {span.name for span in exporter.get_finished_spans()}
    assert (names & PROBE_SPANS) == (PROBE_SPANS if traced else set())
    labels = {
        "grpc_type": "bidi_stream",
        "grpc_service": "grpc.reflection.v1alpha.ServerReflection",
        "grpc_method": "ServerReflectionInfo",
    }
    assert value(samples, "grpc_server_handled_total", **labels, grpc_code="OK") == 1


async def test_unsampled_calls_keep_the_trace_id_and_record_nothing(
    sims: tuple[OpenAISimulator, OpenAISimulator],
    connect: Callable[[Gateway], Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A call the sampler drops still has the caller's trace id in its access log line (and in the
    context its upstream attempts run in), and exports no span."""
    a, b = sims
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gateway = Gateway(gateway_config(config(a, b)), tracer_provider=provider)
    await gateway.start()
    started = 0
    start_span = Tracer.start_span

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal started
        started += 1
        return start_span(*args, **kwargs)

    try:
        client = connect(gateway)
        unsampled = (("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN}-00"),)
        with (
            caplog.at_level(logging.INFO, logger=ACCESS_LOGGER),
            mock.patch.object(Tracer, "start_span", autospec=True, side_effect=counted),
        ):
            await client.chat.Chat(chat_request("echo", user("hi")), timeout=5, metadata=unsampled)
            await client.chat.Chat(chat_request("echo", user("hi")), timeout=5)
            async with asyncio.timeout(2):
                while len([r for r in caplog.records if r.name == ACCESS_LOGGER]) < 2:
                    await asyncio.sleep(0.01)
    finally:
        await gateway.shutdown()
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert lines[0]["trace_id"] == TRACE_ID
    assert len(lines[1]["trace_id"]) == 32 and lines[1]["trace_id"] != TRACE_ID, "a new trace of its own"
    assert exporter.get_finished_spans() == ()
    # One span per call, its server span: no attempt span is made only to be dropped.
    assert started == 2


async def test_access_log_line_per_call(
    observed: tuple[Gateway, Client, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    _, client, _ = observed
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        await client.chat.Chat(chat_request("echo", user(PROMPT), request_id="req-42"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            bad = chat_request("echo", user("hi"), generation_config=chat_pb2.GenerationConfig(temperature=5))
            await client.chat.Chat(bad, timeout=5)
        # The line is written when the server-side handler finishes, which can be just after the
        # caller has its status.
        async with asyncio.timeout(2):
            while len([r for r in caplog.records if r.name == ACCESS_LOGGER]) < 2:
                await asyncio.sleep(0.01)
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 2
    ok = lines[0]
    assert ok["request_id"] == "req-42"
    assert ok["code"] == "OK" and ok["model"] == "echo" and ok["provider"] == "echo"
    assert ok["deployment"] == "echo/echo" and ok["attempts"] == 1
    assert ok["input_tokens"] == 4 and ok["output_tokens"] == 4
    assert ok["latency_ms"] >= ok["upstream_ms"] >= 0
    assert len(ok["trace_id"]) == 32
    assert PROMPT not in json.dumps(lines), "prompts are not logged"
    assert lines[1]["code"] == "INVALID_ARGUMENT" and lines[1]["reason"] == "INVALID_REQUEST"


async def test_trace_context_goes_upstream_only_when_configured(
    sims: tuple[OpenAISimulator, OpenAISimulator], connect: Callable[[Gateway], Client]
) -> None:
    a, b = sims
    a.reset()
    b.reset()
    gateway = Gateway(gateway_config(config(a, b, propagate=True)), tracer_provider=TracerProvider())
    await gateway.start()
    try:
        client = connect(gateway)
        metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN}-01"),)
        await client.chat.Chat(chat_request("primary", user("hi")), timeout=5, metadata=metadata)
        await client.chat.Chat(chat_request("backup", user("hi")), timeout=5, metadata=metadata)
        # Unary calls and streams both take UpstreamHttp's direct path to the pool: both carry it.
        stream = client.chat.ChatStream(stream_request("primary", user("hi")), timeout=5, metadata=metadata)
        [_ async for _ in stream]
    finally:
        await gateway.shutdown()
    posted_a = [r for r in a.requests if r.method == "POST"]
    assert len(posted_a) == 2
    for sent_a in posted_a:
        assert sent_a.headers["traceparent"].split("-")[1] == TRACE_ID, "pa opted in"
    sent_b = [r for r in b.requests if r.method == "POST"][-1]
    assert "traceparent" not in sent_b.headers, "third-party providers see no trace context by default"


async def test_content_logging_is_opt_in_and_redacted(
    start_gateway: StartGateway,
    connect: Callable[[Gateway], Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = {
        "observability": {"log_content": True},
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [{"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]}],
    }
    client = connect(await start_gateway(config))
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        await client.chat.Chat(chat_request("echo", user("write to jane@acme.io")), timeout=5)
        async for _ in client.chat.ChatStream(stream_request("echo", user("or 10.1.2.3")), timeout=5):
            pass
        async with asyncio.timeout(2):
            while len([r for r in caplog.records if r.name == ACCESS_LOGGER]) < 2:
                await asyncio.sleep(0.01)
    unary, streamed = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER
    ]
    assert unary["prompt"] == "user: write to [EMAIL]" and unary["completion"] == "write to [EMAIL]"
    assert streamed["prompt"] == "user: or [IPV4]" and streamed["completion"] == "or [IPV4]"


async def test_cancelled_stream_ends_its_span_in_its_own_context(
    observed: tuple[Gateway, Client, InMemorySpanExporter],
    sims: tuple[OpenAISimulator, OpenAISimulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A caller who cancels mid-stream: the server span ends, the access log says CANCELLED, and no
    "Failed to detach context" error is logged (grpc.aio abandons the handler's generator when a
    write is cancelled; finalised later, outside the call's context, OpenTelemetry cannot detach)."""
    gateway, _, exporter = observed
    a, _ = sims
    # Far more than HTTP/2 flow control lets through unread: the server is left waiting in a write.
    # The caller's window stays at its initial 64 KiB (no BDP probing, which would grow it to
    # megabytes and let a busy machine's gateway finish the stream before the caller cancels).
    a.behaviour = Behaviour(reply_text=" ".join(["x" * 200] * 5000))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}", options=[("grpc.http2.bdp_probe", 0)])
    client = Client(channel)
    with caplog.at_level(logging.INFO):
        call = client.chat.ChatStream(stream_request("primary", user("cancel me")), timeout=10)
        async for message in call:
            if message.delta.text:
                break
        await asyncio.sleep(0.5)
        call.cancel()
        async with asyncio.timeout(3):
            while not any(s.name.endswith("/ChatStream") for s in exporter.get_finished_spans()):
                await asyncio.sleep(0.01)
            while not any(r.name == ACCESS_LOGGER for r in caplog.records):
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # room for a late finaliser to log
    await channel.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    access = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [line["code"] for line in access] == ["CANCELLED"]


@pytest.mark.parametrize(
    "ending", ["cancel_before_first_token", "cancel_between_tokens", "deadline_mid_stream"]
)
async def test_a_stream_ended_by_its_caller_logs_nothing_at_error(
    observed: tuple[Gateway, Client, InMemorySpanExporter],
    sims: tuple[OpenAISimulator, OpenAISimulator],
    caplog: pytest.LogCaptureFixture,
    ending: str,
) -> None:
    """However the caller ends a stream (cancel while the gateway waits for the first token, cancel
    or a deadline while it waits between tokens), nothing is logged at ERROR: not OpenTelemetry's
    "Failed to detach context", not a traceback. These are expected events; the access log says
    CANCELLED or DEADLINE_EXCEEDED."""
    _, client, exporter = observed
    a, _ = sims
    a.behaviour = Behaviour(ttft=5.0) if ending == "cancel_before_first_token" else Behaviour(inter_token=0.2)
    timeout = 0.5 if ending == "deadline_mid_stream" else 10
    with caplog.at_level(logging.INFO):
        call = client.chat.ChatStream(
            stream_request("primary", user("one two three four five six")), timeout=timeout
        )
        if ending == "cancel_before_first_token":
            await asyncio.sleep(0.3)
            call.cancel()
        elif ending == "cancel_between_tokens":
            async for message in call:
                if message.delta.text:
                    break
            call.cancel()
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            async for _ in call:
                pass
        async with asyncio.timeout(3):
            while not any(r.name == ACCESS_LOGGER for r in caplog.records):
                await asyncio.sleep(0.01)
        gc.collect()  # a generator left to a finaliser would log now
        await asyncio.sleep(0.3)
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    access = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]
    expected = "DEADLINE_EXCEEDED" if ending == "deadline_mid_stream" else "CANCELLED"
    assert [line["code"] for line in access] == [expected]
    assert any(s.name.endswith("/ChatStream") for s in exporter.get_finished_spans())


def test_labelled_children_are_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's metrics look a labelled child up in prometheus-client once, then remember it."""
    made: list[tuple[str, ...]] = []
    original = prometheus_client.Counter.labels

    def counting(self: Any, *values: Any, **named: Any) -> Any:
        made.append(values)
        return original(self, *values, **named)

    monkeypatch.setattr(prometheus_client.Counter, "labels", counting)
    metrics = GatewayMetrics()
    for _ in range(3):
        metrics.requests.labels("grpc", "Chat", "m", "p", "OK").inc()
    metrics.requests.labels("grpc", "Chat", "m", "p", "INTERNAL").inc()
    assert made == [("grpc", "Chat", "m", "p", "OK"), ("grpc", "Chat", "m", "p", "INTERNAL")]
    samples = {
        sample.labels["code"]: sample.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
        if sample.name == "llmgateway_requests_total"
    }
    assert samples == {"OK": 3.0, "INTERNAL": 1.0}
    metrics.requests.remove("grpc", "Chat", "m", "p", "OK")
    metrics.requests.labels("grpc", "Chat", "m", "p", "OK").inc()
    assert made[-1] == ("grpc", "Chat", "m", "p", "OK"), "a removed child is made anew"


def test_logging_setup_skips_what_no_format_shows() -> None:
    """No caller frame, thread or process name per record; httpx's request lines only when debugging."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_flags = logging._srcfile, logging.logThreads, logging.logMultiprocessing
    try:
        configure_logging("json", "INFO")
        record = logging.getLogger(ACCESS_LOGGER).makeRecord("n", logging.INFO, "f", 0, "m", (), None)
        assert record.threadName is None and record.processName is None and record.process
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO)
        configure_logging("json", "DEBUG")
        assert logging.getLogger("httpx").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        logging._srcfile, logging.logThreads, logging.logMultiprocessing = saved_flags


def test_costs_in_log_lines_read_as_people_write_them() -> None:
    """Six significant digits in the access log (the proto's Usage.cost_usd stays exact)."""
    summed = 0.000123 + 0.000007
    assert json.dumps(summed) == "0.00013000000000000002"
    assert json.dumps(cost_for_people(summed)) == "0.00013"
    assert cost_for_people(12.3456789) == 12.3457
    assert cost_for_people(0.0) == 0.0
