"""Budgets kept true to the spend ledger, on the memory store and a SQLite ledger, through real gRPC:
a restart keeps a period's spend, calendar periods start at midnight in their time zone, counters
are reconciled with what other gateways spent, and a ledger that cannot be read fails open or
closed as store.fail_open says. Time is the gateway's wall-clock seam (budget_setup.Calendar)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2

from llmgateway.config import ConfigError, parse_config
from llmgateway.config.ledger import sqlite_url
from tests.budget_setup import FREE, OTHER_KEY, Calendar, Gateways, budget_config, outcome, refusal
from tests.ledger_rows import rows_when_settled
from tests.rich_status import rich_status

pytest_plugins = ["tests.budget_fixtures"]

GatewaysOn = Callable[[Calendar], Gateways]


def sqlite_ledger(tmp_path: Path) -> dict[str, Any]:
    return {"url": sqlite_url(tmp_path / "ledger.db")}


async def test_a_restart_keeps_the_periods_spend(tmp_path: Path, gateways_on: GatewaysOn) -> None:
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(sqlite_ledger(tmp_path), key_budget={"usd": 2.5, "period": "month"})
    first = await gateways.start(config)
    assert [await outcome(first) for _ in range(4)] == ["OK", "OK", "OK", "BUDGET_EXCEEDED"]
    await gateways.stop(first)

    # The memory store starts empty; the key's counter is seeded from the ledger's $3 this month.
    again = await gateways.start(config)
    error = await refusal(again)
    status = rich_status(error)
    assert (status.code, status.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "BUDGET_EXCEEDED")
    description = status.detail(error_details_pb2.QuotaFailure).violations[0].description
    assert "$3.0000 of $2.5 per month spent (2031-05, UTC" in description
    assert "the next month starts 2031-06-01T00:00:00+00:00" in description
    assert await outcome(again, key=OTHER_KEY) == "OK", "another key's spend is its own"


@pytest.fixture
def spend_queries() -> Iterator[list[str]]:
    """The budget sums every ledger engine in this process runs, as SQL."""
    seen: list[str] = []

    def executing(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "sum(ledger_calls.cost_nano_usd)" in statement:
            seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", executing)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", executing)


async def test_calls_finding_a_counter_missing_together_wait_for_one_sum(
    tmp_path: Path, gateways_on: GatewaysOn, spend_queries: list[str]
) -> None:
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(sqlite_ledger(tmp_path), key_budget={"usd": 20, "period": "month"})
    first = await gateways.start(config)
    assert [await outcome(first) for _ in range(3)] == ["OK"] * 3
    await gateways.stop(first)
    spend_queries.clear()
    again = await gateways.start(config)
    assert await asyncio.gather(*(outcome(again, FREE) for _ in range(12))) == ["OK"] * 12
    assert len(spend_queries) == 1, "one seeding for the twelve calls"
    assert "key_id" in spend_queries[0]


async def test_tenant_budgets_are_seeded_from_all_their_keys_calls(
    tmp_path: Path, gateways_on: GatewaysOn
) -> None:
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(sqlite_ledger(tmp_path), tenant_budget={"usd": 3, "period": "week"})
    first = await gateways.start(config)
    assert [await outcome(first), await outcome(first, key=OTHER_KEY), await outcome(first)] == ["OK"] * 3
    await gateways.stop(first)
    again = await gateways.start(config)
    assert await outcome(again, key=OTHER_KEY) == "BUDGET_EXCEEDED"
    status = rich_status(await refusal(again))
    assert status.detail(error_details_pb2.QuotaFailure).violations[0].subject == "tenant:acme"
    assert "(2031-W20, UTC" in status.detail(error_details_pb2.QuotaFailure).violations[0].description


async def test_periods_start_at_midnight_in_their_time_zone(tmp_path: Path, gateways_on: GatewaysOn) -> None:
    """Two keys with monthly budgets, one in UTC, one in Berlin (the configured default zone); at
    23:00 on 31 May in Berlin both spend their month; 90 minutes later it is June in Berlin, not in
    UTC. A restart then reads the same periods from the ledger."""
    calendar = Calendar("2031-05-31T23:00:00+02:00")
    gateways = gateways_on(calendar)
    config = budget_config(
        sqlite_ledger(tmp_path),
        key_budget={"usd": 1, "period": "month", "time_zone": "UTC"},
        other_key_budget={"usd": 1, "period": "month"},
        budgets={"time_zone": "Europe/Berlin"},
    )
    gateway = await gateways.start(config)
    assert [await outcome(gateway), await outcome(gateway)] == ["OK", "BUDGET_EXCEEDED"]
    assert [await outcome(gateway, key=OTHER_KEY), await outcome(gateway, key=OTHER_KEY)] == [
        "OK",
        "BUDGET_EXCEEDED",
    ]

    calendar.set("2031-06-01T00:30:00+02:00")  # 22:30 UTC, still 31 May there
    assert await outcome(gateway) == "BUDGET_EXCEEDED"
    assert await outcome(gateway, key=OTHER_KEY) == "OK", "a new month in Berlin"
    await gateways.stop(gateway)

    again = await gateways.start(config)
    assert await outcome(again) == "BUDGET_EXCEEDED", "UTC's May, read back from the ledger"
    assert await outcome(again, key=OTHER_KEY) == "BUDGET_EXCEEDED", "Berlin's June: $1 of $1"
    description = (
        rich_status(await refusal(again, key=OTHER_KEY))
        .detail(error_details_pb2.QuotaFailure)
        .violations[0]
        .description
    )
    assert "(2031-06, Europe/Berlin; the next month starts 2031-07-01T00:00:00+02:00)" in description

    calendar.set("2031-06-01T00:00:00+00:00")  # June in UTC too: the UTC key starts afresh
    assert await outcome(again) == "OK"


async def test_a_day_across_a_daylight_saving_change_is_25_hours(
    tmp_path: Path, gateways_on: GatewaysOn
) -> None:
    # Berlin leaves summer time on 26 October 2031: that day runs from 22:00 UTC on the 25th to
    # 23:00 UTC on the 26th.
    calendar = Calendar("2031-10-25T22:00:00+00:00")
    gateways = gateways_on(calendar)
    config = budget_config(
        sqlite_ledger(tmp_path), key_budget={"usd": 1, "period": "day", "time_zone": "Europe/Berlin"}
    )
    gateway = await gateways.start(config)
    assert await outcome(gateway) == "OK"
    calendar.set("2031-10-26T22:59:59+00:00")  # 23:59:59 in Berlin, 25 hours on
    assert await outcome(gateway) == "BUDGET_EXCEEDED"
    calendar.set("2031-10-26T23:00:00+00:00")
    assert await outcome(gateway) == "OK"


async def test_counters_are_reconciled_with_what_other_gateways_spent(
    tmp_path: Path, gateways_on: GatewaysOn
) -> None:
    """Two gateways with memory stores (two workers, say) on one ledger: each counts its own calls,
    and reconciliation raises each counter to the ledger's sum of both."""
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(
        sqlite_ledger(tmp_path),
        key_budget={"usd": 2.5, "period": "day"},
        budgets={"reconcile_interval_s": 0.1},
    )
    one, other = await gateways.start(config), await gateways.start(config)
    assert await outcome(one, FREE) == "OK"  # its counter is seeded now: $0, and stays in its memory
    assert [await outcome(other) for _ in range(4)] == ["OK", "OK", "OK", "BUDGET_EXCEEDED"]
    async with asyncio.timeout(10):
        while await outcome(one, FREE) == "OK":  # free calls: only the reconciliation can spend here
            await asyncio.sleep(0.05)
    assert await outcome(one, FREE) == "BUDGET_EXCEEDED"
    rows = await rows_when_settled(config["ledger"]["url"], 4)
    assert sum(row["cost_nano_usd"] for row in rows) == 3_000_000_000, "the refused call cost nothing"


async def test_a_reload_changes_the_reconciliation_interval_at_once(
    tmp_path: Path, gateways_on: GatewaysOn
) -> None:
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    hourly = budget_config(
        sqlite_ledger(tmp_path),
        key_budget={"usd": 2.5, "period": "day"},
        budgets={"reconcile_interval_s": 3600},
    )
    often = {**hourly, "budgets": {"reconcile_interval_s": 0.1}}
    one, other = await gateways.start(hourly, reload_to=often), await gateways.start(hourly)
    assert await outcome(one, FREE) == "OK"
    assert [await outcome(other) for _ in range(3)] == ["OK"] * 3
    await rows_when_settled(hourly["ledger"]["url"], 4)
    assert await outcome(one, FREE) == "OK", "no reconciliation within the hour"
    assert await one.reload()
    async with asyncio.timeout(10):
        while await outcome(one, FREE) == "OK":
            await asyncio.sleep(0.05)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_ledger(tmp_path: Path) -> dict[str, Any]:
    """A PostgreSQL ledger nobody listens for (its password must never show)."""
    url = f"postgresql+psycopg://gw:hunter2secret@127.0.0.1:{_closed_port()}/ledger"
    return {"url": url, "spool_dir": str(tmp_path / "spool"), "statement_timeout_s": 1}


@pytest.fixture
def budget_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="llmgateway.limits.budget_book")
    return caplog


async def test_an_unreadable_ledger_fails_open_from_the_store(
    tmp_path: Path, gateways_on: GatewaysOn, budget_log: pytest.LogCaptureFixture
) -> None:
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(unreachable_ledger(tmp_path), key_budget={"usd": 2.5, "period": "day"})
    gateway = await gateways.start(config)
    # The spend cannot be seeded: it counts from 0 in the store, and still holds the budget there.
    assert [await outcome(gateway) for _ in range(4)] == ["OK", "OK", "OK", "BUDGET_EXCEEDED"]
    records = [r for r in budget_log.records if r.name == "llmgateway.limits.budget_book"]
    assert [r.levelname for r in records] == ["WARNING"], "an expected event, said once"
    assert "counted from 0" in records[0].getMessage()
    assert "hunter2secret" not in budget_log.text


async def test_an_unreadable_ledger_fails_closed_when_the_store_does(
    tmp_path: Path, gateways_on: GatewaysOn, budget_log: pytest.LogCaptureFixture
) -> None:
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(
        unreachable_ledger(tmp_path),
        key_budget={"usd": 2.5, "period": "day"},
        store={"fail_open": False},
    )
    gateway = await gateways.start(config)
    for _ in range(3):
        status = rich_status(await refusal(gateway))
        assert (status.code, status.reason) == (grpc.StatusCode.UNAVAILABLE, "LIMITS_UNAVAILABLE")
        assert "spend ledger cannot be read" in status.message
        assert status.detail(error_details_pb2.RetryInfo).retry_delay.seconds == 5
    assert await outcome(gateway, key=OTHER_KEY) == "OK", "a key without a budget needs no ledger"
    assert [r.levelname for r in budget_log.records if r.name == "llmgateway.limits.budget_book"] == [
        "WARNING"
    ]
    assert "hunter2secret" not in budget_log.text


def test_the_time_zone_is_checked_at_load() -> None:
    for data, path in [
        ({"budgets": {"time_zone": "Mars/Olympus"}}, "budgets.time_zone"),
        (
            budget_config(None, key_budget={"usd": 1, "time_zone": "../etc/passwd"}),
            "auth.keys[0].policy.budget.time_zone",
        ),
    ]:
        with pytest.raises(ConfigError) as failure:
            parse_config(data, env={})
        assert path in str(failure.value) and "IANA" in str(failure.value)
    assert parse_config({"budgets": {"time_zone": "America/New_York"}}, env={}).budgets.time_zone == (
        "America/New_York"
    )
