"""One deployment's upstream (routing/upstream.py) without a server: its breaker accounting,
bulkhead, own RPM/TPM, probe health, and time limits (the gateway's one first-token timer)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from llmgateway.config import (
    BreakerSettings,
    DeploymentLimits,
    DeploymentSettings,
    ProviderSettings,
    ProviderTimeouts,
)
from llmgateway.errors import GatewayError
from llmgateway.limits.memory import MemoryLimitBackend
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.providers.base import UpstreamCall
from llmgateway.reasons import Reason
from llmgateway.resilience.breaker import BreakerState, CircuitBreaker
from llmgateway.resilience.bulkhead import Bulkhead, BulkheadFullError
from llmgateway.routing.deployments import Deployment
from llmgateway.routing.upstream import StreamEnd, Upstream
from llmgateway.v1 import chat_pb2
from tests.routing.fakes import STALL, FakeClock, FakeProvider, delta, error, request


def make(
    provider: FakeProvider,
    clock: FakeClock,
    *,
    breaker: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    timeouts: dict[str, Any] | None = None,
    backend: MemoryLimitBackend | None = None,
    metrics: GatewayMetrics | None = None,
) -> Upstream:
    settings = DeploymentSettings(
        provider=provider.name, model="x", limits=DeploymentLimits(**(limits or {}))
    )
    provider_settings = ProviderSettings(
        name=provider.name, type="echo", timeouts=ProviderTimeouts(**(timeouts or {}))
    )
    return Upstream(
        Deployment(settings, provider, provider_settings),
        breaker=CircuitBreaker(BreakerSettings(**(breaker or {})), clock),
        bulkhead=Bulkhead(settings.limits.max_in_flight, settings.limits.max_wait_s),
        latency_alpha=0.5,
        clock=clock,
        limits=backend,
        metrics=metrics,
    )


def state_of(upstream: Upstream) -> BreakerState:
    # A call, not an attribute, so the type checker does not narrow the state across transitions.
    return upstream.breaker_state


CALL = UpstreamCall(request=request("one two"), upstream_model="x", request_id="r1")


# ---- the breaker and what it learns ------------------------------------------------------------


async def test_an_answer_is_timed_and_counts_as_a_success() -> None:
    clock = FakeClock()
    upstream = make(FakeProvider("p", clock, takes=2.0), clock, breaker={"consecutive_failures": 2})
    upstream.record_failure(error(Reason.UPSTREAM_UNAVAILABLE), 0.0, stream=False)
    response = await upstream.chat(CALL)
    assert response.message.parts[0].text == "one two"
    assert upstream.usual_duration(stream=False) == 2.0
    assert upstream.usual_duration(stream=True) is None
    upstream.record_failure(error(Reason.UPSTREAM_UNAVAILABLE), 0.0, stream=False)
    assert state_of(upstream) is BreakerState.CLOSED, "the success reset the run of failures"
    assert upstream.in_flight == 0


def test_only_the_deployments_own_failures_open_its_breaker() -> None:
    clock = FakeClock()
    upstream = make(FakeProvider("p"), clock, breaker={"consecutive_failures": 2, "open_s": 7})
    for _ in range(5):
        upstream.record_failure(error(Reason.UPSTREAM_REJECTED_REQUEST), 0.0, stream=False)
    assert upstream.usable, "the caller's errors say nothing of the deployment"
    upstream.record_failure(error(Reason.UPSTREAM_UNAVAILABLE), 0.0, stream=False)
    upstream.record_failure(error(Reason.UPSTREAM_ERROR, retry_after=3), 0.0, stream=False)
    assert state_of(upstream) is BreakerState.OPEN
    assert not upstream.usable and not upstream.admit()
    assert upstream.retry_in() == 7


def test_a_timeout_is_a_latency_sample_of_its_kind() -> None:
    clock = FakeClock()
    upstream = make(FakeProvider("p"), clock)
    upstream.record_failure(error(Reason.UPSTREAM_STALL), 3.0, stream=True)
    upstream.record_failure(error(Reason.UPSTREAM_TIMEOUT), 5.0, stream=False)
    upstream.record_failure(error(Reason.UPSTREAM_UNAVAILABLE), 60.0, stream=False)
    assert (upstream.usual_duration(stream=True), upstream.usual_duration(stream=False)) == (3.0, 5.0)


def test_a_streams_end_settles_its_attempt() -> None:
    clock = FakeClock()
    upstream = make(
        FakeProvider("p"), clock, breaker={"consecutive_failures": 1, "open_s": 1, "half_open_probes": 1}
    )
    upstream.record_failure(error(Reason.UPSTREAM_UNAVAILABLE), 0.0, stream=True)
    clock.t += 1
    assert upstream.admit()
    assert upstream.record_stream_end(None) == "CANCELLED"
    assert upstream.admit(), "a stream the gateway stopped reading freed the half-open probe's slot"
    assert upstream.record_stream_end(StreamEnd(error(Reason.UPSTREAM_STALL), waited=4.0)) == "UPSTREAM_STALL"
    assert state_of(upstream) is BreakerState.OPEN, "a failed probe opens the breaker again"
    assert upstream.usual_duration(stream=True) == 4.0
    clock.t += 1
    assert upstream.admit()
    assert upstream.record_stream_end(StreamEnd()) == "OK"
    assert state_of(upstream) is BreakerState.CLOSED


def test_probe_results_decide_whether_it_is_usable() -> None:
    upstream = make(FakeProvider("p"), FakeClock())
    assert upstream.probe_passing and upstream.usable
    upstream.record_probe(passed=False)
    assert not upstream.probe_passing and not upstream.usable
    upstream.record_probe(passed=True)
    assert upstream.usable


# ---- the bulkhead ------------------------------------------------------------------------------


async def test_an_open_stream_holds_its_slot_until_released() -> None:
    clock = FakeClock()
    upstream = make(FakeProvider("p"), clock, limits={"max_in_flight": 1, "max_wait_s": 0})
    await upstream.open_stream(CALL)
    assert upstream.in_flight == 1
    with pytest.raises(BulkheadFullError):
        await upstream.chat(CALL)
    upstream.release()
    await upstream.chat(CALL)
    assert upstream.in_flight == 0


# ---- its own RPM and TPM ---------------------------------------------------------------------


async def test_its_rpm_sheds_calls_before_the_provider_would() -> None:
    clock = FakeClock()
    metrics = GatewayMetrics()
    upstream = make(
        FakeProvider("p"), clock, limits={"rpm": 1}, backend=MemoryLimitBackend(clock.now), metrics=metrics
    )
    await upstream.reserve(10)
    with pytest.raises(GatewayError) as shed:
        await upstream.reserve(10)
    assert (shed.value.code, shed.value.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "DEPLOYMENT_RATE_LIMITED",
    )
    assert shed.value.retry_after == pytest.approx(60)
    assert (
        metrics.registry.get_sample_value("llmgateway_ratelimit_rejections_total", {"scope": "deployment"})
        == 1
    )
    clock.t += 60
    await upstream.reserve(10)


async def test_its_tpm_is_reconciled_with_the_real_usage() -> None:
    clock = FakeClock()
    upstream = make(FakeProvider("p"), clock, limits={"tpm": 1000}, backend=MemoryLimitBackend(clock.now))
    await upstream.reserve(600)
    with pytest.raises(GatewayError):
        await upstream.reserve(600)
    await upstream.settle(600, chat_pb2.Usage(input_tokens=60, output_tokens=40))  # 500 come back
    await upstream.reserve(600)
    await upstream.settle(600, None)  # unknown usage keeps the estimate
    with pytest.raises(GatewayError):
        await upstream.reserve(600)


# ---- time limits -------------------------------------------------------------------------------


class Hanging(FakeProvider):
    async def chat(self, call: UpstreamCall) -> chat_pb2.ChatResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_an_answer_later_than_total_s_is_an_upstream_timeout() -> None:
    upstream = make(Hanging("p"), FakeClock(), timeouts={"total_s": 0.05})
    with pytest.raises(GatewayError) as late:
        await upstream.chat(CALL)
    assert (late.value.code, late.value.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_TIMEOUT")
    assert late.value.message == "provider 'p' did not answer within 0.05s"
    assert upstream.in_flight == 0


@pytest.mark.parametrize(
    "script",
    [
        pytest.param([STALL], id="nothing"),
        # A message without content (the model's name, as many providers send first) does not stop
        # the timer, nor turn it into the between-tokens one: the first token has not come.
        pytest.param([chat_pb2.ChatStreamResponse(model="x"), STALL], id="no-content"),
    ],
)
async def test_the_first_token_timer_counts_from_the_request(script: list[object]) -> None:
    provider = FakeProvider("p")
    provider.script = script
    upstream = make(provider, FakeClock(), timeouts={"first_token_s": 0.05, "between_tokens_s": 30})
    with pytest.raises(GatewayError) as stalled:
        await upstream.open_stream(CALL)
    assert (stalled.value.code, stalled.value.reason) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_STALL")
    assert stalled.value.message == "provider 'p' sent no first token for 0.05s"
    assert provider.closed_streams == 1, "the upstream request was closed"
    assert upstream.in_flight == 0


async def test_a_stream_is_read_up_to_its_first_content() -> None:
    clock = FakeClock()
    provider = FakeProvider("p", clock, takes=1.5)
    named, first, second = chat_pb2.ChatStreamResponse(model="x"), delta("one"), delta(" two")
    provider.script = [named, first, second]
    upstream = make(provider, clock)
    opened = await upstream.open_stream(CALL)
    assert opened.items == [named, first]
    assert opened.rest is not None and [m async for m in opened.rest] == [second]
    assert upstream.usual_duration(stream=True) == 1.5


async def test_a_stream_that_ends_without_content_has_no_rest() -> None:
    provider = FakeProvider("p")
    provider.script = [chat_pb2.ChatStreamResponse(usage=chat_pb2.Usage(input_tokens=3))]
    opened = await make(provider, FakeClock()).open_stream(CALL)
    assert (len(opened.items), opened.rest) == (1, None)
    assert provider.closed_streams == 1


async def test_a_failure_before_the_first_token_frees_the_slot() -> None:
    provider = FakeProvider("p")
    provider.fail_next(error(Reason.UPSTREAM_CONNECT_FAILED))
    upstream = make(provider, FakeClock(), limits={"max_in_flight": 1, "max_wait_s": 0})
    with pytest.raises(GatewayError):
        await upstream.open_stream(CALL)
    assert upstream.in_flight == 0
    await upstream.open_stream(CALL)
