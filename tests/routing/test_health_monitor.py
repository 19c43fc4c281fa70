"""The health monitor (resilience/health.py) tells a provider's upstreams how its probes went, and
readiness follows the upstreams: no server, no network, a fake clock for the breakers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from llmgateway.cache.memory import MemoryCache
from llmgateway.config import parse_config
from llmgateway.limits.memory import MemoryLimitBackend
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.reasons import Reason
from llmgateway.resilience.health import HealthMonitor
from llmgateway.runtime import Runtime, RuntimeHolder, Store
from tests.routing.fakes import FakeClock, FakeProvider, error, request


class Probed(FakeProvider):
    """A provider whose probe passes or fails as set."""

    passes = True

    async def probe(self) -> None:
        if not self.passes:
            raise error(Reason.UPSTREAM_CONNECT_FAILED)


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    """`m` on pa then pb, `n` on pa alone; pa is probed, pb is not."""
    config = parse_config(
        {
            "providers": [{"name": "pa", "type": "echo", "health_check": {}}, {"name": "pb", "type": "echo"}],
            "models": [
                {
                    "name": "m",
                    "deployments": [{"provider": "pa", "model": "a"}, {"provider": "pb", "model": "b"}],
                },
                {"name": "n", "deployments": [{"provider": "pa", "model": "c"}]},
            ],
            "routing": {"retry": {"max_retries": 0}, "breaker": {"consecutive_failures": 1, "open_s": 30}},
        },
        env={},
    )
    store = Store(MemoryLimitBackend(), MemoryCache(10))
    built = Runtime(config, clock=FakeClock(), rng=random.Random(1), store=store, metrics=GatewayMetrics())
    yield built
    await built.aclose()


def monitor_of(
    runtime: Runtime, readiness: list[bool], metrics: GatewayMetrics | None = None
) -> HealthMonitor:
    async def set_ready(ready: bool) -> None:
        readiness.append(ready)

    return HealthMonitor(RuntimeHolder(runtime), set_ready, metrics or GatewayMetrics())


async def test_a_probe_reaches_every_upstream_of_its_provider_and_no_other(runtime: Runtime) -> None:
    sick = Probed("pa")
    sick.passes = False
    runtime.providers["pa"] = sick
    monitor = monitor_of(runtime, [])
    assert not await monitor.probe_once("pa")
    assert {u.id: u.probe_passing for u in runtime.router.upstreams} == {
        "pa/a": False,
        "pb/b": True,
        "pa/c": False,
    }
    # The router steers around them: `m` is served by pb without trying pa.
    _, report = await runtime.router.chat(request(), "m", "r1", None)
    assert [a.deployment for a in report.attempts] == ["pb/b"]
    sick.passes = True
    assert await monitor.probe_once("pa")
    assert all(u.probe_passing for u in runtime.router.upstreams)


async def test_readiness_follows_probes_and_breakers(runtime: Runtime) -> None:
    readiness: list[bool] = []
    metrics = GatewayMetrics()
    monitor = monitor_of(runtime, readiness, metrics)
    await monitor.check_readiness()
    sick = Probed("pa")
    sick.passes = False
    runtime.providers["pa"] = sick
    await monitor.probe_once("pa")
    await monitor.check_readiness()
    assert readiness == [True], "pb still serves"
    for upstream in runtime.router.upstreams_of("pb"):
        upstream.record_failure(error(Reason.UPSTREAM_UNAVAILABLE), 0.0, stream=False)
    await monitor.check_readiness()
    assert readiness == [True, False], "nothing usable: pa fails its probes, pb's breaker is open"
    assert metrics.registry.get_sample_value("llmgateway_breaker_state", {"deployment": "pb/b"}) == 2
    sick.passes = True
    await monitor.probe_once("pa")
    await monitor.check_readiness()
    assert readiness == [True, False, True]
