"""The HTTP listener every HTTP front door shares, through real HTTP on loopback: health, request
ids in and out, the caller's trace continued, and readiness off while a shutdown drains."""

from __future__ import annotations

import asyncio
import re

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmgateway.app import Gateway
from llmgateway.frontends.http.server import http_body_limit
from tests.conftest import ECHO_CONFIG, StartGateway, gateway_config

HTTP_ON = {**ECHO_CONFIG, "server": {"http_listen": "127.0.0.1:0"}}


def base_url(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.http_port}"


async def test_health_answers_over_http_with_a_request_id(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(HTTP_ON)
    async with httpx.AsyncClient(base_url=base_url(gateway)) as http:
        live = await http.get("/health/live")
        ready = await http.get("/health/ready", headers={"x-request-id": "req-42"})
        missing = await http.get("/no/such/path")
    assert (live.status_code, live.json()) == (200, {"status": "SERVING"})
    assert re.fullmatch(r"[0-9a-f]{32}", live.headers["x-request-id"])
    assert (ready.status_code, ready.headers["x-request-id"]) == (200, "req-42")
    assert missing.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{32}", missing.headers["x-request-id"])


async def test_a_request_id_that_is_no_token_is_replaced(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(HTTP_ON)
    async with httpx.AsyncClient(base_url=base_url(gateway)) as http:
        answer = await http.get("/health/live", headers={"x-request-id": "x" * 500})
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])


async def test_no_http_listener_unless_configured(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(ECHO_CONFIG)
    assert gateway.http_port == 0


async def test_the_callers_trace_continues_in_the_server_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gateway = Gateway(gateway_config(HTTP_ON), tracer_provider=provider)
    await gateway.start()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with httpx.AsyncClient(base_url=base_url(gateway)) as http:
            # A door's route (health checks make no spans unless asked: test_observability.py).
            await http.get("/v1/models", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    finally:
        await gateway.shutdown()
    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.name == "GET /v1/models"
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None and format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    attributes = dict(span.attributes or {})
    assert attributes["http.route"] == "/v1/models"
    assert attributes["http.response.status_code"] == 200


async def test_readiness_turns_off_while_a_shutdown_drains() -> None:
    gateway = Gateway(gateway_config({**HTTP_ON, "server": {"http_listen": "127.0.0.1:0", "drain_s": 0.5}}))
    await gateway.start()
    async with httpx.AsyncClient(base_url=base_url(gateway)) as http:
        assert (await http.get("/health/ready")).status_code == 200
        stopping = asyncio.create_task(gateway.shutdown())
        await asyncio.sleep(0.1)
        draining = await http.get("/health/ready")
        live = await http.get("/health/live")
        await stopping
    assert (draining.status_code, draining.json()) == (503, {"status": "NOT_SERVING"})
    assert live.status_code == 200  # the process is healthy, only leaving


def test_the_body_limit_leaves_room_for_base64_and_json() -> None:
    limit = http_body_limit(4 * 1024 * 1024)
    assert limit >= 4 * 1024 * 1024 * 4 // 3  # every byte of a 4 MiB image as base64 fits
    assert limit < 8 * 1024 * 1024
