"""What calls run on: the config, providers and router built from one config, and the holder that
swaps them atomically on reload while calls in flight finish on the one they started with."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opentelemetry import trace

from llmgateway.auth.directory import Directory
from llmgateway.auth.keys import KeyStore, Principal
from llmgateway.cache.responses import ResponseCache
from llmgateway.config import GatewayConfig
from llmgateway.limits.admission import Admission
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.providers.base import Provider, ProviderContext
from llmgateway.providers.media import MediaFetcher
from llmgateway.providers.registry import build_providers
from llmgateway.redaction.policy import PiiFilter
from llmgateway.resilience.clock import Clock
from llmgateway.routing.router import Router
from llmgateway.routing.upstream_models import UpstreamModelDirectory
from llmgateway.store.shared import Store

_log = logging.getLogger(__name__)


class Runtime:
    """Providers and router of one config, with a count of the calls using them."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        clock: Clock,
        rng: random.Random,
        store: Store,
        metrics: GatewayMetrics,
        tracer: trace.Tracer | None = None,
        directory: Directory | None = None,
    ) -> None:
        self.config = config
        # Keys and tenants made at run time (None: no database, config keys only).
        self.directory = directory
        self.clock = clock
        self.store = store
        self.context = ProviderContext(media=MediaFetcher(config.media))
        self.providers: dict[str, Provider] = build_providers(config, self.context)
        self.router = Router(
            config, self.providers, clock=clock, rng=rng, tracer=tracer, limits=store.limits, metrics=metrics
        )
        self.admission = Admission(store.limits, config, metrics, store.budgets, directory=directory)
        self.responses = ResponseCache(store.cache, config.cache)
        self._pii: dict[str, PiiFilter | None] = {}
        self._pii_revision = -1
        self.upstream_models = UpstreamModelDirectory(self.providers)
        self.keys: KeyStore | None = KeyStore(config.auth.keys, directory) if config.auth.enabled else None
        self.active_calls = 0
        self.closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    def pii(self, who: Principal | None) -> PiiFilter | None:
        """The PII filter of a key's policy (None when its policy asks for none)."""
        if who is None:
            return None
        if self.directory is not None and self.directory.current.revision != self._pii_revision:
            # A stored key's policy may have changed: filters are made again from the new one.
            self._pii.clear()
            self._pii_revision = self.directory.current.revision
        if who.key_id not in self._pii:
            policy = who.policy.pii
            salt = self.config.auth.pii_hash_salt
            active = policy.prompts != "off" or policy.output != "off"
            self._pii[who.key_id] = (
                PiiFilter(policy, salt.get_secret_value() if salt is not None else None) if active else None
            )
        return self._pii[who.key_id]

    def enter(self) -> None:
        self.active_calls += 1
        self._idle.clear()

    def leave(self) -> None:
        self.active_calls -= 1
        if self.active_calls == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def aclose(self) -> None:
        """Close every provider's pooled connections."""
        if self.closed:
            return
        self.closed = True
        for provider in self.providers.values():
            await provider.aclose()
        await self.context.media.aclose()


class RuntimeHolder:
    """The current runtime. A call takes the current one for its whole life (`use`); `swap` puts a
    new one in place and closes the old one once its last call has finished."""

    def __init__(self, runtime: Runtime, on_retired: Callable[[], None] | None = None) -> None:
        self.current = runtime
        self._retiring: set[asyncio.Task[None]] = set()
        # Called once a replaced runtime is closed (the server re-settles its garbage collector).
        self._on_retired = on_retired

    @contextmanager
    def use(self) -> Iterator[Runtime]:
        runtime = self.current
        runtime.enter()
        try:
            yield runtime
        finally:
            runtime.leave()

    def swap(self, runtime: Runtime) -> None:
        old, self.current = self.current, runtime
        task = asyncio.get_running_loop().create_task(self._retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, runtime: Runtime) -> None:
        await runtime.wait_idle()
        await runtime.aclose()
        _log.info("previous configuration retired: its last call finished")
        if self._on_retired is not None:
            self._on_retired()

    async def aclose(self) -> None:
        """Close the current runtime and any still retiring."""
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.current.aclose()
