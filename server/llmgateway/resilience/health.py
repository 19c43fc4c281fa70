"""Active provider probes and the readiness they and the breakers decide.

Readiness (the `llmgateway.v1.ChatService` health service) is SERVING while some route is usable:
a deployment whose breaker is not open and whose provider is not failing its probes. Liveness
never depends on providers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from llmgateway.errors import GatewayError
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.runtime import RuntimeHolder

_log = logging.getLogger(__name__)


class HealthMonitor:
    """Runs the configured probes and keeps readiness in step with the routes."""

    def __init__(
        self,
        runtimes: RuntimeHolder,
        set_ready: Callable[[bool], Awaitable[None]],
        metrics: GatewayMetrics,
        *,
        readiness_interval_s: float = 1.0,
    ) -> None:
        self._runtimes = runtimes
        self._set_ready = set_ready
        self._metrics = metrics
        self._interval_s = readiness_interval_s
        self._tasks: list[asyncio.Task[None]] = []
        self._probes: list[asyncio.Task[None]] = []
        self._ready: bool | None = None
        # Providers whose last probe failed, so that only a change of state is logged.
        self._failing: set[str] = set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._readiness_loop())]
        self._start_probes()

    def _start_probes(self) -> None:
        loop = asyncio.get_running_loop()
        self._probes = [
            loop.create_task(self._probe_loop(settings.name))
            for settings in self._runtimes.current.config.providers
            if settings.health_check is not None
        ]

    async def restart_probes(self) -> None:
        """After a reload: probe the providers of the new config, whose upstreams are new (and
        count as passing until probed)."""
        await self._cancel(self._probes)
        self._failing.clear()
        self._start_probes()

    async def stop(self) -> None:
        await self._cancel([*self._tasks, *self._probes])

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def check_readiness(self) -> None:
        router = self._runtimes.current.router
        # Breakers change state with time too (open → half-open), not only on calls.
        for upstream in router.upstreams:
            self._metrics.breaker_state.labels(upstream.id).set(int(upstream.breaker_state))
        ready = router.usable()
        if ready != self._ready:
            if self._ready is not None:
                _log.warning("readiness: %s", "SERVING" if ready else "NOT_SERVING (no usable route)")
            self._ready = ready
            await self._set_ready(ready)

    async def probe_once(self, name: str) -> bool:
        """Probe one provider of the current config and tell its deployments' upstreams; True
        when it answered."""
        runtime = self._runtimes.current
        settings = next((p for p in runtime.config.providers if p.name == name), None)
        if settings is None or settings.health_check is None:
            return True
        try:
            async with asyncio.timeout(settings.health_check.timeout_s):
                await runtime.providers[name].probe()
        except (GatewayError, TimeoutError) as error:
            if name not in self._failing:
                _log.warning("provider %s failed its health probe: %s", name, error or "timeout")
            self._failing.add(name)
            passed = False
        else:
            if name in self._failing:
                _log.info("provider %s passes its health probe again", name)
            self._failing.discard(name)
            passed = True
        for upstream in runtime.router.upstreams_of(name):
            upstream.record_probe(passed)
        return passed

    async def _probe_loop(self, name: str) -> None:
        while True:
            await self.probe_once(name)
            settings = next((p for p in self._runtimes.current.config.providers if p.name == name), None)
            if settings is None or settings.health_check is None:
                return  # removed by a reload
            await asyncio.sleep(settings.health_check.interval_s)

    async def _readiness_loop(self) -> None:
        while True:
            await self.check_readiness()
            await asyncio.sleep(self._interval_s)
