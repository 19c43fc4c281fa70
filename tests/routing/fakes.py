"""What the routing unit tests drive routing with, instead of a gRPC server and simulators: a
fake clock, a scripted in-process provider, configs from plain data, and upstream errors."""

from __future__ import annotations

import asyncio
import datetime
import random
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmgateway.config import GatewayConfig, parse_config
from llmgateway.errors import GatewayError
from llmgateway.observability.call_record import CallRecord, current_call
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.providers.base import Provider, UpstreamCall
from llmgateway.providers.echo import EchoProvider
from llmgateway.reasons import Reason
from llmgateway.resilience.clock import Clock
from llmgateway.routing.resolve import RouteTable
from llmgateway.routing.router import Router, build_routes
from llmgateway.v1 import chat_pb2, content_pb2


class FakeClock:
    """Time that moves only when told to, or when slept on (at once: a backoff costs nothing)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


STALL = object()  # in a stream script: the upstream sends nothing more, ever


class FakeProvider(Provider):
    """An upstream that fails its next calls as told (`fail_next`) and otherwise answers as the
    echo provider does; a stream can follow a script of messages, errors and STALL instead."""

    def __init__(self, name: str, clock: FakeClock | None = None, takes: float = 0.0) -> None:
        super().__init__(name)
        self.calls: list[UpstreamCall] = []
        self.closed_streams = 0
        self.script: list[object] | None = None
        self._failures: deque[GatewayError] = deque()
        self._echo = EchoProvider(name)
        self._clock = clock
        self._takes = takes  # fake seconds each call takes to answer (to its first token, streams)

    def fail_next(self, *errors: GatewayError) -> None:
        self._failures.extend(errors)

    def _start(self, call: UpstreamCall) -> None:
        self.calls.append(call)
        if self._clock is not None:
            self._clock.t += self._takes
        if self._failures:
            raise self._failures.popleft()

    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        self._start(call)
        return await self._echo.chat(call)

    async def stream(self, call: UpstreamCall) -> AsyncGenerator[chat_pb2.ChatStreamResponse, None]:
        try:
            self._start(call)
            if self.script is None:
                async for item in self._echo.stream(call):
                    yield item
                return
            for step in self.script:
                if step is STALL:
                    await asyncio.Event().wait()
                if isinstance(step, GatewayError):
                    raise step
                assert isinstance(step, chat_pb2.ChatStreamResponse)
                yield step
        finally:
            self.closed_streams += 1


def error(reason: Reason, retry_after: float | None = None) -> GatewayError:
    """What an adapter raises for `reason`."""
    return GatewayError(reason, f"upstream says {reason}", retry_after=retry_after)


def config(
    models: list[dict[str, Any]],
    providers: list[str],
    timeouts: dict[str, float] | None = None,
    **routing: Any,
) -> GatewayConfig:
    """A config of echo-typed providers (the type only names them: calls go to FakeProviders)."""
    return parse_config(
        {
            "providers": [{"name": name, "type": "echo", "timeouts": timeouts or {}} for name in providers],
            "models": models,
            "routing": {"retry": {"max_retries": 0}, **routing},
        },
        env={},
    )


def router(
    gateway_config: GatewayConfig, providers: dict[str, Provider], clock: Clock, **options: Any
) -> Router:
    return Router(gateway_config, providers, clock=clock, rng=random.Random(1), **options)


NOON = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


def route_table(
    gateway_config: GatewayConfig, providers: dict[str, Provider], now: datetime.datetime = NOON
) -> RouteTable:
    routes = build_routes(gateway_config, providers, clock=FakeClock(), rng=random.Random(1))
    return RouteTable(routes, gateway_config.routing.rules, rng=random.Random(1), wall_clock=lambda: now)


def request(text: str = "hello there", **fields: Any) -> chat_pb2.ChatRequest:
    message = content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=text)])
    return chat_pb2.ChatRequest(messages=[message], **fields)


def delta(text: str) -> chat_pb2.ChatStreamResponse:
    return chat_pb2.ChatStreamResponse(delta=chat_pb2.Delta(text=text))


def traced() -> tuple[trace.Tracer, InMemorySpanExporter]:
    """A tracer whose ended spans can be read back."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("tests"), exporter


def observed_call(method: str = "Chat") -> CallRecord:
    """A call record for the current call, as the gateway's interceptor opens it."""
    record = CallRecord(method=method, metrics=GatewayMetrics())
    current_call.set(record)
    return record


def attempts_counted(record: CallRecord, upstream_id: str, outcome: str) -> float:
    provider = upstream_id.split("/", maxsplit=1)[0]
    labels = {"provider": provider, "deployment": upstream_id, "outcome": outcome}
    return record.metrics.registry.get_sample_value("llmgateway_upstream_attempts_total", labels) or 0.0
