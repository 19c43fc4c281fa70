"""The status page's figures from ledger rows written at known times, read at a fixed moment, on
SQLite and on a real PostgreSQL: the hour buckets, the last hour's percentiles, the last day and the
current budget period per key; a ledger that cannot be read; and names escaped on the page."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgateway.config.ledger import sqlite_url
from llmgateway.ledger.schema import calls
from llmgateway.ledger.schema_version import ensure_current
from llmgateway.observability.metrics import GatewayMetrics
from llmgateway.status.figures import StatusFigures
from llmgateway.status.gather import FigureSource
from llmgateway.status.money import usd
from llmgateway.status.page import status_page
from llmgateway.status.periods import period_start_ms
from tests.conftest import gateway_config
from tests.ledger_rows import made_row

pytest_plugins = ["tests.postgres_fixtures"]

HOUR = 3_600_000
NOW = int(datetime(2026, 3, 15, 10, 30, tzinfo=UTC).timestamp() * 1000)


def row(started_ms: int, **fields: Any) -> dict[str, Any]:
    """A call nobody's key made, of no tokens and no cost, on dep-a (tests add what they count)."""
    nothing = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "cost_nano_usd": 0}
    return (
        made_row(started_ms=started_ms, request_id="r", key_id="", tenant="", deployment="dep-a", **nothing)
        | fields
    )


ROWS = [
    # The last hour on dep-a: latencies 1..20 ms (OK), TTFT on the even ones; two failures.
    *[
        row(NOW - 60_000 * i, latency_us=1000 * i, ttft_us=500 * i if i % 2 == 0 else None)
        for i in range(1, 21)
    ],
    row(NOW - 120_000, status="UNAVAILABLE", latency_us=999_000),
    row(NOW - 180_000, status="UNAVAILABLE", latency_us=999_000),
    # Spend: acme's key (a daily budget) and globex's (a monthly one).
    row(NOW - 5 * 60_000, key_id="acmekey1", tenant="acme", total_tokens=10, cost_nano_usd=1_000),
    row(NOW - 5 * HOUR, key_id="acmekey1", tenant="acme", total_tokens=20, cost_nano_usd=2_000),
    row(NOW - 11 * HOUR, key_id="acmekey1", tenant="acme", total_tokens=40, cost_nano_usd=4_000),  # yesterday
    row(NOW - 23 * HOUR, key_id="globexk1", tenant="globex", total_tokens=80, cost_nano_usd=8_000),
    row(NOW - 5 * 24 * HOUR, key_id="globexk1", tenant="globex", total_tokens=160, cost_nano_usd=16_000),
    row(
        NOW - 20 * 24 * HOUR, key_id="globexk1", tenant="globex", total_tokens=320, cost_nano_usd=32_000
    ),  # February
]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (
        sqlite_url(tmp_path / "ledger.db")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = sa.create_engine(url)
    ensure_current(engine, migrate=True)
    with engine.begin() as connection:
        connection.execute(calls.insert(), ROWS)
    yield engine
    engine.dispose()


HASH = "sha256$" + "0" * 32 + "$" + "0" * 64


def figures(ledger: Engine | None) -> StatusFigures:
    config = gateway_config(
        {
            "providers": [{"name": "p", "type": "echo"}],
            "models": [{"name": "m", "deployments": [{"name": "dep-a", "provider": "p", "model": "echo"}]}],
            "auth": {
                "enabled": True,
                "keys": [
                    {
                        "id": "acmekey1",
                        "hash": HASH,
                        "tenant": "acme",
                        "policy": {"budget": {"usd": 0.000001}},
                    },
                    {
                        "id": "globexk1",
                        "hash": HASH,
                        "tenant": "globex",
                        "policy": {"budget": {"usd": 1, "period": "month"}},
                    },
                    {"id": "idlekey1", "hash": HASH, "tenant": "acme"},
                ],
            },
        }
    )
    return FigureSource(lambda: config, GatewayMetrics().registry, ledger, clock_ms=lambda: NOW).read()


def test_the_figures_from_the_ledger(ledger: Engine) -> None:
    status = figures(ledger)
    assert status.ledger == "ok"
    (deployment,) = status.deployments
    assert (deployment.calls_last_hour, deployment.failed_calls_last_hour) == (20 + 2 + 1, 2)
    # OK calls of the last hour: 1..20 ms and the spend row's 1 ms; nearest rank of these 21: the 11th and the 20th.
    assert deployment.latency.samples == 21
    assert (deployment.latency.p50_ms, deployment.latency.p95_ms) == (10.0, 19.0)
    assert deployment.ttft.samples == 10  # 1, 2, ... 10 ms
    assert (deployment.ttft.p50_ms, deployment.ttft.p95_ms) == (5.0, 10.0)
    assert deployment.breaker_state is None and deployment.error_rate is None  # no attempt in this process

    assert status.hours[-1] == NOW // HOUR * HOUR and len(status.hours) == 24
    spend = {tenant.tenant: tenant.nano_usd_per_hour for tenant in status.tenants}
    assert set(spend) == {"", "acme", "globex"}
    assert spend["acme"][-1] == 1_000 and spend["acme"][-6] == 2_000 and spend["acme"][-12] == 4_000
    assert sum(spend["acme"]) == 7_000
    assert spend["globex"][-24] == 8_000 and sum(spend["globex"]) == 8_000  # 23 h ago: the first bar

    keys = {key.key_id: key for key in status.keys}
    acme, globex, idle = keys["acmekey1"], keys["globexk1"], keys["idlekey1"]
    assert (acme.last_day.calls, acme.last_day.tokens, acme.last_day.nano_usd) == (3, 70, 7_000)
    assert acme.period_start_ms == int(datetime(2026, 3, 15, tzinfo=UTC).timestamp() * 1000)
    assert acme.this_period.nano_usd == 3_000  # today (UTC) only
    assert acme.budget_used == pytest.approx(3.0)  # three times over
    assert (globex.last_day.calls, globex.last_day.nano_usd) == (1, 8_000)
    assert globex.this_period.nano_usd == 24_000  # March: not February's
    assert (idle.last_day.calls, idle.budget_used) == (0, None)

    page = status_page(status, refresh_s=0).decode()
    over = re.search(
        r'<tr data-key="acmekey1">.*?data-figure="budget_used" data-value="([^"]+)" class="over"', page
    )
    assert over is not None and float(over.group(1)) == pytest.approx(3.0)
    assert "http-equiv" not in page


def test_periods_are_the_limits_own() -> None:
    """A key's period as limits/budget_periods.py admits by: its budget's zone, else the default."""
    keys = [
        {"id": "daykey01", "hash": HASH, "tenant": "t", "policy": {"budget": {"usd": 1}}},
        {"id": "monthk01", "hash": HASH, "tenant": "t", "policy": {"budget": {"usd": 1, "period": "month"}}},
        {
            "id": "berlin01",
            "hash": HASH,
            "tenant": "t",
            "policy": {"budget": {"usd": 1, "time_zone": "Europe/Berlin"}},
        },
        {"id": "nobudget", "hash": HASH, "tenant": "t"},
    ]
    config = gateway_config(
        {
            "providers": [{"name": "p", "type": "echo"}],
            "models": [{"name": "m", "deployments": [{"provider": "p", "model": "echo"}]}],
            "auth": {"enabled": True, "keys": keys},
            "budgets": {"time_zone": "America/New_York"},
        }
    )
    start = {key.id: period_start_ms(config, key, NOW) for key in config.auth.keys}
    new_york, berlin = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
    now = datetime.fromtimestamp(NOW / 1000, tz=UTC)
    midnight = {
        zone: now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        for zone in (new_york, berlin)
    }
    assert start["daykey01"] == start["nobudget"] == int(midnight[new_york].timestamp() * 1000)
    assert start["monthk01"] == int(midnight[new_york].replace(day=1).timestamp() * 1000)
    assert start["berlin01"] == int(midnight[berlin].timestamp() * 1000)


def test_money() -> None:
    assert [usd(0), usd(1_500), usd(2_500_000_000), usd(123_456_000_000)] == [
        "$0",
        "$0.000002",
        "$2.500000",
        "$123.46",
    ]


def test_a_ledger_that_cannot_be_read_leaves_the_live_figures(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    broken = sa.create_engine(sqlite_url(tmp_path / "file" / "ledger.db"))
    status = figures(broken)
    assert status.ledger == "unavailable"
    assert [d.deployment for d in status.deployments] == ["dep-a"]
    assert "could not be read" in status_page(status, 30).decode()
    assert figures(None).ledger == "off"


def test_names_are_escaped_on_the_page() -> None:
    status = figures(None)
    hostile = StatusFigures(
        now_ms=NOW,
        deployments=status.deployments,
        in_flight={"Chat": 0},
        hours=status.hours,
        tenants=[],
        keys=[dataclasses.replace(status.keys[0], name="<script>alert(1)</script>", labels={"x": '"><b>'})],
    )
    page = status_page(hostile, 30).decode()
    assert "<script>" not in page and '"><b>' not in page
    assert "&lt;script&gt;" in page
