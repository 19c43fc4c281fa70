"""The stream handle (routing/stream_handle.py) without a server: a stream from its first content
to its close, when the attempt is settled by how the upstream ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from llmgateway.config import BreakerSettings, DeploymentLimits, DeploymentSettings, ProviderSettings
from llmgateway.errors import GatewayError
from llmgateway.limits.backend import LimitBackend
from llmgateway.limits.memory import MemoryLimitBackend
from llmgateway.observability.call_record import CallRecord
from llmgateway.providers.base import UpstreamCall
from llmgateway.reasons import Reason
from llmgateway.resilience.breaker import BreakerState, CircuitBreaker
from llmgateway.resilience.bulkhead import Bulkhead
from llmgateway.routing.deployments import Deployment
from llmgateway.routing.stream_handle import StreamHandle
from llmgateway.routing.telemetry import AttemptSpan
from llmgateway.routing.upstream import Upstream
from llmgateway.v1 import chat_pb2
from tests.routing.fakes import (
    STALL,
    FakeClock,
    FakeProvider,
    attempts_counted,
    delta,
    error,
    observed_call,
    request,
    traced,
)

CALL = UpstreamCall(request=request("one two three"), upstream_model="x", request_id="r1")
# One failure opens the breaker; after a second one probe goes through, whose outcome decides.
BREAKER = {"consecutive_failures": 1, "open_s": 1, "half_open_probes": 1}


def make(
    provider: FakeProvider, clock: FakeClock, backend: LimitBackend | None = None, **limits: Any
) -> Upstream:
    settings = DeploymentSettings(provider=provider.name, model="x", limits=DeploymentLimits(**limits))
    return Upstream(
        Deployment(settings, provider, ProviderSettings(name=provider.name, type="echo")),
        breaker=CircuitBreaker(BreakerSettings(**BREAKER), clock),
        bulkhead=Bulkhead(settings.limits.max_in_flight, settings.limits.max_wait_s),
        latency_alpha=0.5,
        clock=clock,
        limits=backend,
    )


def half_open(upstream: Upstream, clock: FakeClock) -> None:
    """The breaker let this stream through as its one probe: its outcome closes or reopens it."""
    upstream.record_failure(error(Reason.UPSTREAM_UNAVAILABLE), 0.0, stream=True)
    clock.t += 1
    assert upstream.admit()


def state_of(upstream: Upstream) -> BreakerState:
    return upstream.breaker_state


@dataclass
class Opened:
    handle: StreamHandle
    spans: InMemorySpanExporter
    record: CallRecord


async def opened(upstream: Upstream, estimated_tokens: int = 100) -> Opened:
    """A stream the router has opened on `upstream`, traced and observed."""
    tracer, spans = traced()
    record = observed_call("ChatStream")
    first = await upstream.open_stream(CALL)
    handle = StreamHandle(
        upstream,
        first,
        AttemptSpan(tracer.start_span("chat x")),
        prompt_tokens=3,
        estimated_tokens=estimated_tokens,
        record=record,
    )
    return Opened(handle, spans, record)


async def test_a_stream_that_completes_is_a_success_of_its_deployment() -> None:
    clock = FakeClock()
    backend = MemoryLimitBackend(clock.now)
    upstream = make(FakeProvider("p"), clock, backend, tpm=1000)
    half_open(upstream, clock)
    await upstream.reserve(900)
    stream = await opened(upstream, estimated_tokens=900)
    handle = stream.handle
    assert (handle.deployment, handle.prompt_tokens) == (upstream.deployment, 3)
    messages = [m async for m in handle.messages()]
    assert "".join(m.delta.text for m in messages) == "one two three"
    assert upstream.in_flight == 1, "the slot is the stream's until it is closed"
    await handle.close()
    assert upstream.in_flight == 0
    assert state_of(upstream) is BreakerState.CLOSED, "the completed probe closed the breaker"
    assert attempts_counted(stream.record, "p/x", "OK") == 1
    (span,) = stream.spans.get_finished_spans()
    assert span.attributes is not None
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (
        3,
        3,
    )
    # The estimate (900) was reconciled with the usage (6 tokens): the TPM has room again.
    await upstream.reserve(900)


async def test_the_attempt_is_counted_once_with_how_the_stream_ended() -> None:
    clock = FakeClock()
    upstream = make(FakeProvider("p"), clock)
    stream = await opened(upstream)
    _ = [m async for m in stream.handle.messages()]
    await stream.handle.close()
    await stream.handle.close()
    assert attempts_counted(stream.record, "p/x", "OK") == 1
    assert upstream.in_flight == 0, "a second close gives back no second slot"


async def test_a_failure_after_the_first_token_counts_against_the_deployment() -> None:
    clock = FakeClock()
    provider = FakeProvider("p")
    provider.script = [delta("one"), delta(" two"), error(Reason.UPSTREAM_CONNECTION_LOST)]
    upstream = make(provider, clock)
    half_open(upstream, clock)
    stream = await opened(upstream)
    received: list[chat_pb2.ChatStreamResponse] = []
    with pytest.raises(GatewayError) as cut:
        async for message in stream.handle.messages():
            received.append(message)
    assert (len(received), cut.value.reason) == (2, "UPSTREAM_CONNECTION_LOST")
    await stream.handle.close()
    assert state_of(upstream) is BreakerState.OPEN, "the failed probe opened the breaker again"
    assert attempts_counted(stream.record, "p/x", "UPSTREAM_CONNECTION_LOST") == 1
    (span,) = stream.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "UPSTREAM_CONNECTION_LOST"


async def test_a_stream_the_gateway_stopped_reading_says_nothing_of_the_deployment() -> None:
    clock = FakeClock()
    provider = FakeProvider("p")
    provider.script = [delta("one"), delta(" two"), STALL]
    upstream = make(provider, clock)
    half_open(upstream, clock)
    stream = await opened(upstream)
    messages = stream.handle.messages()
    await anext(messages)
    await messages.aclose()
    await stream.handle.close()
    assert provider.closed_streams == 1, "closing the handle closed the upstream request"
    assert state_of(upstream) is BreakerState.HALF_OPEN
    assert upstream.admit(), "the probe's slot is free for the next call"
    assert attempts_counted(stream.record, "p/x", "CANCELLED") == 1
