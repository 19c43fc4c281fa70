"""The attempt loop (routing/attempts.py) through the router, without a server: failover,
retries with backoff, fallback models, breakers, bulkheads, deadlines, and what the caller and
the call's record learn. Time is the fake clock's: backoffs cost nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from llmgateway.errors import GatewayError
from llmgateway.reasons import Reason
from llmgateway.routing.router import Router
from llmgateway.v1 import content_pb2
from tests.routing.fakes import (
    STALL,
    FakeClock,
    FakeProvider,
    attempts_counted,
    config,
    error,
    observed_call,
    request,
)
from tests.routing.fakes import router as make_router

# Model `m` tries pa first (the weighted strategy, by a far larger weight), then pb.
PA: dict[str, Any] = {"provider": "pa", "model": "a", "weight": 100}
PB: dict[str, Any] = {"provider": "pb", "model": "b", "weight": 1}


def model_m(*deployments: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "m", "strategy": "weighted", "deployments": list(deployments)}]


TWO, ONE = model_m(PA, PB), model_m(PA)
WITH_FALLBACK = [
    {"name": "primary", "deployments": [{"provider": "pa", "model": "a"}], "fallbacks": ["backup"]},
    {"name": "backup", "deployments": [{"provider": "pb", "model": "b"}]},
]


class Setup:
    """A router over providers pa and pb, on a fake clock."""

    def __init__(
        self, models: list[dict[str, Any]], timeouts: dict[str, float] | None = None, **routing: Any
    ) -> None:
        self.clock = FakeClock()
        self.pa, self.pb = FakeProvider("pa"), FakeProvider("pb")
        self.router: Router = make_router(
            config(models, ["pa", "pb"], timeouts, **routing), {"pa": self.pa, "pb": self.pb}, self.clock
        )


def attempts(report: Any) -> list[tuple[str, str]]:
    return [(a.deployment, a.outcome) for a in report.attempts]


async def test_a_failed_deployment_hands_the_call_to_the_next() -> None:
    s = Setup(TWO)
    record = observed_call()
    s.pa.fail_next(error(Reason.UPSTREAM_UNAVAILABLE))
    response, report = await s.router.chat(request("hi"), "m", "r1", None)
    assert response.message.parts[0].text == "hi"
    assert attempts(report) == [("pa/a", "UPSTREAM_UNAVAILABLE"), ("pb/b", "OK")]
    assert report.deployment is not None and report.deployment.id == "pb/b"
    assert (report.served_model, report.fallback) == ("m", False)
    assert (record.attempts, record.provider, record.deployment, record.model) == (2, "pb", "pb/b", "m")
    assert attempts_counted(record, "pa/a", "UPSTREAM_UNAVAILABLE") == 1
    assert attempts_counted(record, "pb/b", "OK") == 1


async def test_retries_back_off_at_least_as_long_as_retry_after() -> None:
    s = Setup(ONE, retry={"max_retries": 2})
    s.pa.fail_next(error(Reason.UPSTREAM_RATE_LIMITED, retry_after=0.4), error(Reason.UPSTREAM_ERROR))
    _, report = await s.router.chat(request(), "m", "r1", None)
    assert attempts(report) == [("pa/a", "UPSTREAM_RATE_LIMITED"), ("pa/a", "UPSTREAM_ERROR"), ("pa/a", "OK")]
    assert len(s.clock.slept) == 2 and s.clock.slept[0] >= 0.4


async def test_no_retry_that_the_deadline_cannot_fit() -> None:
    s = Setup(ONE, retry={"max_retries": 3})
    s.pa.fail_next(error(Reason.UPSTREAM_UNAVAILABLE, retry_after=30))
    with pytest.raises(GatewayError) as failed:
        await s.router.chat(request(), "m", "r1", s.clock.now() + 2)
    assert (failed.value.reason, failed.value.metadata["attempts"]) == ("UPSTREAM_UNAVAILABLE", "1")
    assert s.clock.slept == [], "it gave up at once instead of sleeping past the deadline"


async def test_the_retry_budget_bounds_retries() -> None:
    budget = {"max_retries": 3, "budget_ratio": 0, "min_retries_per_s": 0}
    s = Setup(ONE, retry=budget)
    s.pa.fail_next(error(Reason.UPSTREAM_UNAVAILABLE))
    with pytest.raises(GatewayError):
        await s.router.chat(request(), "m", "r1", None)
    assert len(s.pa.calls) == 1


async def test_the_callers_own_errors_are_neither_retried_nor_failed_over() -> None:
    s = Setup(TWO, retry={"max_retries": 3})
    s.pa.fail_next(error(Reason.UPSTREAM_REJECTED_REQUEST))
    with pytest.raises(GatewayError) as rejected:
        await s.router.chat(request(), "m", "r1", None)
    assert (rejected.value.code, rejected.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "UPSTREAM_REJECTED_REQUEST",
    )
    assert rejected.value.metadata["attempts"] == "1"
    assert (len(s.pa.calls), len(s.pb.calls)) == (1, 0)


async def test_a_fallback_model_serves_when_the_class_allows() -> None:
    s = Setup(WITH_FALLBACK)
    record = observed_call()
    s.pa.fail_next(error(Reason.UPSTREAM_UNAVAILABLE))
    _, report = await s.router.chat(request(), "primary", "r1", None)
    assert (report.served_model, report.fallback) == ("backup", True)
    assert s.pb.calls[-1].upstream_model == "b"
    assert (record.model, record.fallback_from) == ("backup", "primary")
    labels = {"model": "primary", "fallback_model": "backup"}
    assert record.metrics.registry.get_sample_value("llmgateway_fallbacks_total", labels) == 1
    s.pa.fail_next(error(Reason.CONTENT_FILTERED))  # not in the default fallback_on
    with pytest.raises(GatewayError) as filtered:
        await s.router.chat(request(), "primary", "r2", None)
    assert filtered.value.reason == "CONTENT_FILTERED"
    assert len(s.pb.calls) == 1


@pytest.mark.parametrize(("backup_window", "served"), [(8000, False), (16000, True)])
async def test_a_context_too_long_falls_back_only_to_a_larger_window(
    backup_window: int, served: bool
) -> None:
    models = [
        {
            **WITH_FALLBACK[0],
            "deployments": [{"provider": "pa", "model": "a", "capabilities": {"context_window": 8000}}],
        },
        {
            "name": "backup",
            "deployments": [
                {"provider": "pb", "model": "b", "capabilities": {"context_window": backup_window}}
            ],
        },
    ]
    s = Setup(models)
    s.pa.fail_next(error(Reason.CONTEXT_LENGTH_EXCEEDED))
    capped = request(generation_config={"max_output_tokens": 10})
    if served:
        _, report = await s.router.chat(capped, "primary", "r1", None)
        assert report.served_model == "backup"
    else:
        with pytest.raises(GatewayError) as too_long:
            await s.router.chat(capped, "primary", "r1", None)
        assert too_long.value.reason == "CONTEXT_LENGTH_EXCEEDED"
        assert s.pb.calls == []


async def test_an_open_breaker_skips_its_deployment_without_calling_it() -> None:
    s = Setup(TWO, breaker={"consecutive_failures": 1, "open_s": 60})
    s.pa.fail_next(error(Reason.UPSTREAM_UNAVAILABLE))
    await s.router.chat(request(), "m", "r1", None)
    _, report = await s.router.chat(request(), "m", "r2", None)
    assert attempts(report) == [("pa/a", "BREAKER_OPEN"), ("pb/b", "OK")]
    assert len(s.pa.calls) == 1


async def test_when_every_breaker_is_open_the_call_fails_fast_until_one_half_opens() -> None:
    s = Setup(ONE, breaker={"consecutive_failures": 1, "open_s": 60})
    s.pa.fail_next(error(Reason.UPSTREAM_UNAVAILABLE))
    with pytest.raises(GatewayError):
        await s.router.chat(request(), "m", "r1", None)
    s.clock.t += 20
    with pytest.raises(GatewayError) as refused:
        await s.router.chat(request(), "m", "r2", None)
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, "BREAKER_OPEN")
    assert refused.value.retry_after == pytest.approx(40)
    assert s.router.open_until("m") == pytest.approx(40)
    assert (len(s.pa.calls), s.router.usable()) == (1, False)
    s.clock.t += 40
    assert s.router.open_until("m") is None and s.router.usable()
    await s.router.chat(request(), "m", "r3", None)


async def half_opened() -> Setup:
    """`m` on pa alone, whose breaker a failure opened and one second half-opened: the next call
    is its one probe, and the one after is refused unless the probe's slot is given back."""
    s = Setup(ONE, breaker={"consecutive_failures": 1, "open_s": 1, "half_open_probes": 1})
    s.pa.fail_next(error(Reason.UPSTREAM_UNAVAILABLE))
    with pytest.raises(GatewayError):
        await s.router.chat(request(), "m", "r0", None)
    s.clock.t += 1
    return s


async def test_a_passed_deadline_stops_the_call_and_frees_a_probes_slot() -> None:
    s = await half_opened()
    with pytest.raises(GatewayError) as late:
        await s.router.chat(request(), "m", "r2", s.clock.now())
    assert (late.value.code, late.value.reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED")
    assert len(s.pa.calls) == 1
    await s.router.chat(request(), "m", "r3", None)  # the probe's slot was given back


async def test_a_cancelled_attempt_frees_a_probes_slot() -> None:
    s = await half_opened()
    s.pa.script = [STALL]
    record = observed_call()
    call = asyncio.get_running_loop().create_task(s.router.open_stream(request(), "m", "r2", None))
    while not s.pa.calls[1:]:
        await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert attempts_counted(record, "pa/a", "CANCELLED") == 1
    s.pa.script = None
    await s.router.chat(request(), "m", "r3", None)


async def test_a_full_bulkhead_moves_the_call_to_the_next_deployment() -> None:
    models = model_m({**PA, "limits": {"max_in_flight": 1, "max_wait_s": 0}}, PB)
    s = Setup(models)
    handle, _ = await s.router.open_stream(request("a long answer"), "m", "r1", None)
    _, report = await s.router.chat(request(), "m", "r2", None)
    assert attempts(report) == [("pa/a", "BULKHEAD_FULL"), ("pb/b", "OK")]
    await handle.close()
    _, report = await s.router.chat(request(), "m", "r3", None)
    assert attempts(report) == [("pa/a", "OK")]


async def test_a_stream_fails_over_before_its_first_token() -> None:
    s = Setup(TWO, timeouts={"first_token_s": 0.05})
    s.pa.script = [STALL]
    record = observed_call("ChatStream")
    handle, report = await s.router.open_stream(request("one two"), "m", "r1", None)
    assert attempts(report) == [("pa/a", "UPSTREAM_STALL"), ("pb/b", "OK")]
    assert handle.deployment.id == "pb/b"
    assert attempts_counted(record, "pb/b", "OK") == 0, "a stream's attempt is counted when it ends"
    assert "".join([m.delta.text async for m in handle.messages()]) == "one two"
    await handle.close()
    assert attempts_counted(record, "pb/b", "OK") == 1


async def test_no_capable_deployment_names_what_is_missing() -> None:
    models = [
        {"name": "m", "deployments": [{"provider": "pa", "model": "a", "capabilities": {"tools": False}}]}
    ]
    s = Setup(models)
    with pytest.raises(GatewayError) as incapable:
        await s.router.chat(request(tools=[content_pb2.Tool(name="t")]), "m", "r1", None)
    assert (incapable.value.code, incapable.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "NO_CAPABLE_DEPLOYMENT",
    )
    assert incapable.value.metadata["feature"] == "tools"
    assert s.pa.calls == []


async def test_a_glob_model_sends_the_requested_name_upstream() -> None:
    s = Setup([{"name": "gpt-*", "deployments": [{"provider": "pa", "model": "{model}"}]}])
    _, report = await s.router.chat(request(), "gpt-4o", "r1", None)
    assert s.pa.calls[-1].upstream_model == "gpt-4o"
    assert report.served_model == "gpt-*"
