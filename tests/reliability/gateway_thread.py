"""A Gateway on its own event loop in a background thread, for synchronous callers (hypothesis
properties drive it with the blocking gRPC client, one example after another)."""

from __future__ import annotations

import asyncio
import random
import threading
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self

from llmgateway.app import Gateway
from tests.conftest import gateway_config


class GatewayThread:
    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gateway", daemon=True)
        self.gateway: Gateway | None = None

    @property
    def address(self) -> str:
        assert self.gateway is not None
        return f"127.0.0.1:{self.gateway.port}"

    def __enter__(self) -> Self:
        self._thread.start()

        async def start() -> Gateway:
            gateway = Gateway(gateway_config(self._config), rng=random.Random(7))
            await gateway.start()
            return gateway

        future: Future[Gateway] = asyncio.run_coroutine_threadsafe(start(), self._loop)
        self.gateway = future.result(timeout=30)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.gateway is not None:
            asyncio.run_coroutine_threadsafe(self.gateway.shutdown(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
