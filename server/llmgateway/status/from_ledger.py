"""Figures from the spend ledger: latency and TTFT per deployment over the last hour, spend per
tenant per hour over the last day, and each key's usage since a time. Read-only queries on the
ledger's table (SQLite or PostgreSQL alike: integer milliseconds and nano-dollars)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgateway.ledger.schema import calls
from llmgateway.status.figures import Percentiles, Usage

HOUR_MS = 3_600_000
_OK = "OK"


def nearest_rank(sorted_values: list[int], share: float) -> int:
    """The nearest-rank percentile (the smallest value with at least `share` of the values at or
    below it): always a value that was observed, so a reader can find it in the ledger."""
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def percentiles(micros: Iterable[int]) -> Percentiles:
    values = sorted(micros)
    if not values:
        return Percentiles()
    return Percentiles(
        samples=len(values),
        p50_ms=nearest_rank(values, 0.50) / 1000,
        p95_ms=nearest_rank(values, 0.95) / 1000,
    )


class DeploymentHour:
    """A deployment's calls in the last hour (the ledger names the deployment a call tried last)."""

    def __init__(self) -> None:
        self.calls = 0
        self.failed = 0
        self.latency_us: list[int] = []
        self.ttft_us: list[int] = []


def deployments_since(engine: Engine, since_ms: int) -> dict[str, DeploymentHour]:
    """Per deployment: calls, failed calls, and the latency and TTFT of the calls that ended OK.
    Percentiles are computed here, not in SQL: SQLite has no percentile function, and an hour of
    one gateway's calls is a list of integers Python sorts in milliseconds."""
    query = sa.select(calls.c.deployment, calls.c.status, calls.c.latency_us, calls.c.ttft_us).where(
        calls.c.started_ms >= since_ms, calls.c.deployment != ""
    )
    hours: dict[str, DeploymentHour] = {}
    with engine.connect() as connection:
        for deployment, status, latency_us, ttft_us in connection.execute(query):
            hour = hours.setdefault(deployment, DeploymentHour())
            hour.calls += 1
            if status != _OK:
                hour.failed += 1
                continue
            hour.latency_us.append(latency_us)
            if ttft_us is not None:
                hour.ttft_us.append(ttft_us)
    return hours


def spend_per_tenant_hour(engine: Engine, first_hour_ms: int) -> dict[str, dict[int, int]]:
    """Nano-dollars per tenant per hour (the hour's start, ms) from `first_hour_ms` on."""
    hour = (calls.c.started_ms // HOUR_MS) * HOUR_MS
    query = (
        sa.select(calls.c.tenant, hour.label("hour"), sa.func.sum(calls.c.cost_nano_usd))
        .where(calls.c.started_ms >= first_hour_ms)
        .group_by(calls.c.tenant, hour)
    )
    spend: dict[str, dict[int, int]] = {}
    with engine.connect() as connection:
        for tenant, start, nano_usd in connection.execute(query):
            spend.setdefault(tenant, {})[int(start)] = int(nano_usd or 0)
    return spend


def usage_per_key(engine: Engine, key_ids: list[str], since_ms: int) -> dict[str, Usage]:
    """Calls, tokens and nano-dollars per key id since `since_ms`."""
    if not key_ids:
        return {}
    query = (
        sa.select(
            calls.c.key_id,
            sa.func.count(),
            sa.func.sum(calls.c.total_tokens),
            sa.func.sum(calls.c.cost_nano_usd),
        )
        .where(calls.c.started_ms >= since_ms, calls.c.key_id.in_(key_ids))
        .group_by(calls.c.key_id)
    )
    with engine.connect() as connection:
        return {
            key_id: Usage(calls=int(count), tokens=int(tokens or 0), nano_usd=int(nano_usd or 0))
            for key_id, count, tokens, nano_usd in connection.execute(query)
        }
