"""Breaker transitions, backoff bounds, the retry budget and strategy choices, with an injected
clock and seeded randomness (deterministic)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from llmgateway.config import BreakerSettings, DeploymentSettings, ProviderSettings, RetrySettings
from llmgateway.providers.echo import EchoProvider
from llmgateway.resilience.breaker import BreakerState, CircuitBreaker
from llmgateway.resilience.bulkhead import Bulkhead, BulkheadFullError
from llmgateway.resilience.retry import RetryBudget, backoff_delay
from llmgateway.routing.deployments import Deployment
from llmgateway.routing.pricing import Prices, known_prices
from llmgateway.routing.strategies import Balancer, RequestFacts
from llmgateway.routing.upstream import Upstream


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def breaker(clock: FakeClock, **settings: float) -> CircuitBreaker:
    return CircuitBreaker(BreakerSettings(**settings), clock)  # type: ignore[arg-type]


def state_of(b: CircuitBreaker) -> BreakerState:
    # A call, not an attribute, so the type checker does not narrow the state across transitions.
    return b.state


def test_opens_after_consecutive_failures_and_probes_back() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=3, open_s=30, half_open_probes=2)
    for _ in range(2):
        assert b.acquire()
        b.record_failure()
    assert state_of(b) == BreakerState.CLOSED
    assert b.acquire()
    b.record_failure()
    assert state_of(b) == BreakerState.OPEN
    assert not b.acquire()
    assert b.retry_in() == pytest.approx(30)
    clock.t += 30
    assert state_of(b) == BreakerState.HALF_OPEN
    assert b.acquire() and b.acquire()
    assert not b.acquire(), "only half_open_probes calls go through"
    b.record_success()
    assert state_of(b) == BreakerState.HALF_OPEN
    b.record_success()
    assert state_of(b) == BreakerState.CLOSED


def test_half_open_failure_reopens() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=1, open_s=10)
    b.acquire()
    b.record_failure()
    clock.t += 10
    assert b.acquire()
    b.record_failure()
    assert state_of(b) == BreakerState.OPEN
    assert b.retry_in() == pytest.approx(10)


def test_failure_rate_over_the_window_needs_min_calls() -> None:
    clock = FakeClock()
    b = breaker(clock, failure_rate=0.5, min_calls=10, window_s=30, consecutive_failures=100)
    outcomes = [True, False] * 4 + [True]  # 9 calls, 5 failures: below min_calls
    for failed in outcomes:
        b.record_failure() if failed else b.record_success()
    assert state_of(b) == BreakerState.CLOSED
    b.record_failure()  # 10 calls, 6 failures
    assert state_of(b) == BreakerState.OPEN


def test_old_outcomes_leave_the_window() -> None:
    clock = FakeClock()
    b = breaker(clock, failure_rate=0.5, min_calls=6, window_s=30, consecutive_failures=100)
    for _ in range(3):
        b.record_failure()
        b.record_success()
    clock.t += 31
    b.record_failure()
    assert state_of(b) == BreakerState.CLOSED, "the six earlier calls fell out of the window"


def test_retry_after_lengthens_the_open_period() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=1, open_s=5)
    b.record_failure(retry_after=60)
    assert b.retry_in() == pytest.approx(60)


def test_neutral_outcomes_do_not_count_but_free_probes() -> None:
    clock = FakeClock()
    b = breaker(clock, consecutive_failures=2, open_s=1, half_open_probes=1)
    for _ in range(10):
        b.record_neutral()
    assert state_of(b) == BreakerState.CLOSED
    b.record_failure()
    b.record_failure()
    clock.t += 1
    assert b.acquire()
    b.record_neutral()
    assert b.acquire(), "the caller's own error frees the probe slot"


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    settings = RetrySettings(base_delay_s=0.1, multiplier=2, max_delay_s=1.0)
    rng = random.Random(7)
    for retry, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (9, 1.0)]:
        delays = [backoff_delay(retry, settings, rng, None) for _ in range(500)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.9 and min(delays) < ceiling * 0.1, "spread over the whole range"
    assert backoff_delay(0, settings, rng, retry_after=3.0) == 3.0


def test_retry_budget_caps_extra_load() -> None:
    clock = FakeClock()
    budget = RetryBudget(RetrySettings(budget_ratio=0.2, min_retries_per_s=0.5, budget_window_s=10), clock)
    for _ in range(100):
        budget.record_request()
    granted = sum(budget.try_spend() for _ in range(100))
    assert granted == 25  # 20% of 100 requests, plus 0.5/s over the 10 s window
    clock.t += 11
    assert budget.try_spend(), "the window moved on"


async def test_bulkhead_waits_then_refuses() -> None:
    bulkhead = Bulkhead(max_in_flight=1, max_wait_s=0.05)
    async with bulkhead.slot():
        assert bulkhead.in_flight == 1
        with pytest.raises(BulkheadFullError):
            await bulkhead.acquire()
    async with bulkhead.slot():
        pass
    assert bulkhead.in_flight == 0


async def test_bulkhead_hands_a_freed_slot_to_a_waiter() -> None:
    bulkhead = Bulkhead(max_in_flight=1, max_wait_s=1)
    await bulkhead.acquire()
    waiter = asyncio.create_task(bulkhead.acquire())
    await asyncio.sleep(0.01)
    bulkhead.release()
    await waiter
    assert bulkhead.in_flight == 1


def deployment(name: str, weight: float = 1.0, price: float | None = None) -> Upstream:
    """A deployment as strategies see it: its upstream."""
    settings = DeploymentSettings(provider="p", model=name, weight=weight, input_price_per_mtok=price)
    clock = FakeClock()
    return Upstream(
        Deployment(settings, EchoProvider("p"), ProviderSettings(name="p", type="echo")),
        breaker=CircuitBreaker(BreakerSettings(), clock),
        bulkhead=Bulkhead(10, 0),
        latency_alpha=0.5,
        clock=clock,
    )


FACTS = RequestFacts(stream=False, prompt_tokens=1000, output_tokens=100)


def test_smooth_weighted_round_robin_follows_weights_and_interleaves() -> None:
    a, b, c = deployment("a", 5), deployment("b", 1), deployment("c", 1)
    balancer = Balancer("weighted", random.Random(0))
    picks = [balancer.order([a, b, c], FACTS)[0].settings.model for _ in range(7)]
    assert picks == ["a", "a", "b", "a", "c", "a", "a"]
    many = Counter(balancer.order([a, b, c], FACTS)[0].settings.model for _ in range(700))
    assert many == {"a": 500, "b": 100, "c": 100}


def test_round_robin_rotates_and_keeps_the_rest_as_failover_order() -> None:
    a, b, c = deployment("a"), deployment("b"), deployment("c")
    balancer = Balancer("round_robin", random.Random(0))
    orders = [[d.settings.model for d in balancer.order([a, b, c], FACTS)] for _ in range(3)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]


async def test_least_in_flight_prefers_the_idle() -> None:
    a, b = deployment("a"), deployment("b")
    await a.bulkhead.acquire()
    balancer = Balancer("least_in_flight", random.Random(0))
    assert all(balancer.order([a, b], FACTS)[0] is b for _ in range(20))


def test_latency_uses_power_of_two_choices() -> None:
    fast, medium, slow = deployment("fast"), deployment("medium"), deployment("slow")
    fast.latency.add(0.1)
    medium.latency.add(0.2)
    slow.latency.add(2.0)
    balancer = Balancer("latency", random.Random(3))
    picks = Counter(balancer.order([fast, medium, slow], FACTS)[0].settings.model for _ in range(3000))
    # With two random candidates per call, the fastest wins 2/3 of the time, the medium 1/3, the
    # slowest never: fast traffic is spread instead of all going to one deployment.
    assert picks["slow"] == 0
    assert 1800 < picks["fast"] < 2200
    assert 800 < picks["medium"] < 1200


def test_latency_streams_use_time_to_first_token() -> None:
    a, b = deployment("a"), deployment("b")
    a.latency.add(0.1)
    a.ttft.add(5.0)
    b.latency.add(1.0)
    b.ttft.add(0.2)
    balancer = Balancer("latency", random.Random(0))
    stream_facts = RequestFacts(stream=True, prompt_tokens=10, output_tokens=10)
    assert balancer.order([a, b], stream_facts)[0] is b
    assert balancer.order([a, b], FACTS)[0] is a


def test_cost_picks_the_cheapest_for_the_request() -> None:
    cheap, dear = deployment("cheap", price=0.15), deployment("dear", price=2.5)
    balancer = Balancer("cost", random.Random(0))
    assert [d.settings.model for d in balancer.order([dear, cheap], FACTS)] == ["cheap", "dear"]
    assert cheap.estimated_cost("cheap", 1_000_000, 0) == pytest.approx(0.15)


def test_cost_uses_the_built_in_prices_when_none_are_configured() -> None:
    # What budgets are charged: gpt-4o-mini lists at 0.15/0.60, gpt-4o at 2.50/10.00, sonnet at 3/15.
    dear, cheap, dearest = deployment("gpt-4o"), deployment("gpt-4o-mini"), deployment("claude-sonnet-4-5")
    balancer = Balancer("cost", random.Random(0))
    orders = {
        tuple(d.settings.model for d in balancer.order([dear, cheap, dearest], FACTS)) for _ in range(20)
    }
    assert orders == {("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5")}


def test_a_configured_price_of_zero_is_a_price() -> None:
    """0 marks a model that costs nothing (self-hosted): charged nothing, ranked cheapest, and not
    replaced by the built-in list price of a model with the same name."""
    free, listed = deployment("gpt-4o", price=0), deployment("gpt-4o-mini")
    free_prices = known_prices(free.settings, "gpt-4o")
    assert free_prices is not None and (free_prices.input, free_prices.output) == (0.0, 0.0)
    balancer = Balancer("cost", random.Random(0))
    assert all(balancer.order([listed, free], FACTS)[0] is free for _ in range(20))
    one_side = DeploymentSettings(provider="p", model="gpt-4o", output_price_per_mtok=1.0)
    one_side_prices = known_prices(one_side, "gpt-4o")
    assert one_side_prices is not None
    assert (one_side_prices.input, one_side_prices.output) == (0.0, 1.0), "setting one price sets both"


def test_cost_ranks_an_unknown_price_after_every_known_one() -> None:
    unknown, dear = deployment("in-house-model"), deployment("claude-sonnet-4-5")
    balancer = Balancer("cost", random.Random(0))
    assert all(balancer.order([unknown, dear], FACTS) == [dear, unknown] for _ in range(20))


def test_cost_prices_a_glob_deployment_for_the_requested_model() -> None:
    glob, fixed = deployment("{model}"), deployment("gpt-4o")
    balancer = Balancer("cost", random.Random(0))
    assert all(balancer.order([fixed, glob], FACTS, "gpt-4o-mini")[0] is glob for _ in range(20))
    assert all(balancer.order([glob, fixed], FACTS, "claude-sonnet-4-5")[0] is fixed for _ in range(20))


def test_cost_looks_a_fixed_deployments_price_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[str] = []

    def counted(settings: DeploymentSettings, upstream_model: str) -> Prices | None:
        lookups.append(upstream_model)
        return known_prices(settings, upstream_model)

    monkeypatch.setattr("llmgateway.routing.deployments.known_prices", counted)
    a, b = deployment("gpt-4o"), deployment("gpt-4o-mini")
    balancer = Balancer("cost", random.Random(0))
    for _ in range(50):
        balancer.order([a, b], FACTS, "m")
    assert sorted(lookups) == ["gpt-4o", "gpt-4o-mini"]
