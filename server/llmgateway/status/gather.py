"""All the page's figures at one moment: the configured deployments and keys, joined with the live
metrics and the ledger. The config is read on every request, so a reload shows at once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgateway.config import ApiKeySettings, GatewayConfig
from llmgateway.status import from_ledger
from llmgateway.status.figures import (
    DeploymentFigures,
    KeyFigures,
    StatusFigures,
    TenantSpend,
    Usage,
)
from llmgateway.status.from_metrics import LiveFigures, read_live_figures
from llmgateway.status.periods import DAY_MS, period_start_ms

_log = logging.getLogger(__name__)
HOURS_CHARTED = 24


class FigureSource:
    """Reads the figures for each request of the page."""

    def __init__(
        self,
        config: Callable[[], GatewayConfig],
        registry: CollectorRegistry,
        ledger: Engine | None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._config = config
        self._registry = registry
        self._ledger = ledger
        self._clock_ms = clock_ms

    def read(self) -> StatusFigures:
        config = self._config()
        now_ms = self._clock_ms()
        live = read_live_figures(self._registry)
        current_hour = now_ms // from_ledger.HOUR_MS * from_ledger.HOUR_MS
        hours = [current_hour - (HOURS_CHARTED - 1 - i) * from_ledger.HOUR_MS for i in range(HOURS_CHARTED)]
        keys = list(config.auth.keys)
        ledger_state = "off"
        by_deployment: dict[str, from_ledger.DeploymentHour] = {}
        spend: dict[str, dict[int, int]] = {}
        last_day: dict[str, Usage] = {}
        this_period: dict[str, Usage] = {}
        if self._ledger is not None:
            try:
                by_deployment = from_ledger.deployments_since(self._ledger, now_ms - from_ledger.HOUR_MS)
                spend = from_ledger.spend_per_tenant_hour(self._ledger, hours[0])
                ids = [key.id for key in keys]
                last_day = from_ledger.usage_per_key(self._ledger, ids, now_ms - DAY_MS)
                this_period = _usage_this_period(self._ledger, config, keys, now_ms)
                ledger_state = "ok"
            except SQLAlchemyError as error:
                # A database outage the ledger's own metrics already report: the page shows the
                # live figures and says the ledger's are missing.
                _log.warning("status page: the ledger could not be read (%s)", error.__class__.__name__)
                ledger_state = "unavailable"
        return StatusFigures(
            now_ms=now_ms,
            deployments=_deployments(config, live, by_deployment),
            in_flight=dict(sorted(live.in_flight.items())),
            hours=hours,
            tenants=[
                TenantSpend(tenant, [per_hour.get(hour, 0) for hour in hours])
                for tenant, per_hour in sorted(spend.items())
            ],
            keys=[_key(config, key, now_ms, last_day, this_period) for key in keys],
            ledger=ledger_state,
        )


def _deployments(
    config: GatewayConfig, live: LiveFigures, by_deployment: dict[str, from_ledger.DeploymentHour]
) -> list[DeploymentFigures]:
    figures = []
    seen: set[str] = set()
    for model in config.models:
        for deployment in model.deployments:
            if deployment.id in seen:
                continue
            seen.add(deployment.id)
            hour = by_deployment.get(deployment.id, from_ledger.DeploymentHour())
            figures.append(
                DeploymentFigures(
                    deployment=deployment.id,
                    provider=deployment.provider,
                    model=deployment.model,
                    breaker_state=live.breaker_state.get(deployment.id),
                    attempts=live.attempts.get(deployment.id, 0),
                    failed_attempts=live.failed_attempts.get(deployment.id, 0),
                    calls_last_hour=hour.calls,
                    failed_calls_last_hour=hour.failed,
                    latency=from_ledger.percentiles(hour.latency_us),
                    ttft=from_ledger.percentiles(hour.ttft_us),
                )
            )
    return figures


def _usage_this_period(
    engine: Engine, config: GatewayConfig, keys: list[ApiKeySettings], now_ms: int
) -> dict[str, Usage]:
    """Each key's usage since its own period's start: one query per distinct start."""
    starts: dict[int, list[str]] = {}
    for key in keys:
        starts.setdefault(period_start_ms(config, key, now_ms), []).append(key.id)
    usage: dict[str, Usage] = {}
    for start, ids in starts.items():
        usage.update(from_ledger.usage_per_key(engine, ids, start))
    return usage


def _key(
    config: GatewayConfig,
    key: ApiKeySettings,
    now_ms: int,
    last_day: dict[str, Usage],
    this_period: dict[str, Usage],
) -> KeyFigures:
    """A key as the page may show it: id, name, tenant, policy; never `key.hash`."""
    policy = key.policy
    budget = policy.budget
    return KeyFigures(
        key_id=key.id,
        name=key.name,
        tenant=key.tenant,
        revoked=key.revoked,
        labels=dict(policy.labels),
        models=list(policy.models),
        rpm=policy.rpm,
        tpm=policy.tpm,
        max_concurrent=policy.max_concurrent,
        budget_usd=budget.usd if budget else None,
        budget_period=budget.period if budget else None,
        last_day=last_day.get(key.id, Usage()),
        period_start_ms=period_start_ms(config, key, now_ms),
        this_period=this_period.get(key.id, Usage()),
    )
