"""The health monitor (resilience/health.py) tells a provider's upstreams how its probes went, and
readiness follows the upstreams: no server, no network, a fake clock for the breakers."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import cast

import pytest

from llmgateway.config import GatewayConfig, parse_config
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.providers.base import Provider
from llmgateway.reasons import Reason
from llmgateway.resilience.health import HealthMonitor
from llmgateway.routing.router import Router
from llmgateway.runtime import RuntimeHolder
from tests.routing.fakes import FakeClock, FakeProvider, error, request
from tests.routing.fakes import router as make_router


class Probed(FakeProvider):
    """A provider whose probe passes or fails as set."""

    passes = True

    async def probe(self) -> None:
        if not self.passes:
            raise error(Reason.UPSTREAM_CONNECT_FAILED)


@dataclass
class Runtime:
    """What the monitor reads of a runtime (llmgateway.runtime.Runtime): its config, its
    providers and its router."""

    config: GatewayConfig
    providers: dict[str, Provider]
    router: Router


@pytest.fixture
def runtime() -> Runtime:
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
    providers: dict[str, Provider] = {"pa": Probed("pa"), "pb": Probed("pb")}
    return Runtime(config, providers, make_router(config, providers, FakeClock()))


def monitor_of(
    runtime: Runtime, readiness: list[bool], metrics: GatewayMetrics | None = None
) -> HealthMonitor:
    async def set_ready(ready: bool) -> None:
        readiness.append(ready)

    holder = SimpleNamespace(current=runtime)  # a RuntimeHolder, as far as the monitor looks
    return HealthMonitor(cast(RuntimeHolder, holder), set_ready, metrics or GatewayMetrics())


def probed(runtime: Runtime, name: str) -> Probed:
    provider = runtime.providers[name]
    assert isinstance(provider, Probed)
    return provider


async def test_a_probe_reaches_every_upstream_of_its_provider_and_no_other(runtime: Runtime) -> None:
    sick = probed(runtime, "pa")
    sick.passes = False
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
    sick = probed(runtime, "pa")
    sick.passes = False
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
