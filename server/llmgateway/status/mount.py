"""The status page as the metrics server mounts it: its paths, its credential (the admin keys),
and the ledger engine it reads with (its own, read-only in use, closed with the server)."""

from __future__ import annotations

from collections.abc import Callable
from wsgiref.types import WSGIApplication

from llmgateway.config import GatewayConfig
from llmgateway.ledger.database import create_engine
from llmgateway.observability.metrics import GatewayMetrics, scrape_registry
from llmgateway.status.access import admin_check
from llmgateway.status.gather import FigureSource
from llmgateway.status.web import PATHS, StatusPage


class StatusMount:
    """Built when `server.status_page.enabled`; `pages` go to MetricsServer, `close` after it."""

    def __init__(
        self,
        config: Callable[[], GatewayConfig],
        metrics: GatewayMetrics,
    ) -> None:
        settings = config()
        self._engine = create_engine(settings.ledger) if settings.ledger.active else None
        page = StatusPage(
            FigureSource(config, scrape_registry(metrics), self._engine),
            admin_check(config),
            refresh_s=settings.server.status_page.refresh_s,
        )
        self.pages: dict[str, WSGIApplication] = dict.fromkeys(PATHS, page)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
