"""Budgets across replicas on a real redis-server and a real PostgreSQL ledger, through real gRPC: a
Redis flush does not reset a period's spend, and two gateways seeding and reconciling one counter
at once count each call once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from tests.budget_setup import FREE, KEY_ID, OTHER_KEY, Calendar, Gateways, budget_config, outcome
from tests.ledger_rows import rows_when_settled
from tests.postgres_server import PASSWORD, PostgresServer
from tests.redis_server import RedisServer

pytest_plugins = ["tests.budget_fixtures", "tests.redis_fixtures", "tests.postgres_fixtures"]

GatewaysOn = Callable[[Calendar], Gateways]
# The key's counter in Redis: its month of May 2031 in UTC (limits/budget_book.py names it).
COUNTER = f"llmgw:spend:budget:key:{KEY_ID}:month:UTC:2031-05"


def postgres_ledger(url: str, tmp_path: Path) -> dict[str, Any]:
    return {"url": url, "migrate_on_start": True, "spool_dir": str(tmp_path / "spool")}


def on_redis(server: RedisServer) -> dict[str, Any]:
    return {"backend": "redis", "redis_url": server.url}


async def settled_spend(url: str, calls: int) -> int:
    """The ledger's total in nano-dollars once it holds `calls` records."""
    return sum(row["cost_nano_usd"] for row in await rows_when_settled(url, calls))


async def test_a_redis_flush_keeps_the_periods_spend(
    tmp_path: Path, postgres_url: str, private_redis: RedisServer, gateways_on: GatewaysOn
) -> None:
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(
        postgres_ledger(postgres_url, tmp_path),
        key_budget={"usd": 2.5, "period": "month"},
        store=on_redis(private_redis),
    )
    gateway = await gateways.start(config)
    assert [await outcome(gateway) for _ in range(4)] == ["OK", "OK", "OK", "BUDGET_EXCEEDED"]
    assert await settled_spend(postgres_url, 4) == 3_000_000_000

    client = redis.asyncio.Redis.from_url(private_redis.url)
    try:
        assert float(await client.get(COUNTER) or 0) == 3.0
        await client.flushall()
        assert await outcome(gateway) == "BUDGET_EXCEEDED", "seeded again from the ledger"
        assert float(await client.get(COUNTER) or 0) == 3.0
        assert await outcome(gateway, key=OTHER_KEY) == "OK"
    finally:
        await client.aclose()


async def test_two_gateways_on_one_redis_and_one_ledger_count_each_call_once(
    tmp_path: Path, postgres_url: str, private_redis: RedisServer, gateways_on: GatewaysOn
) -> None:
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(
        postgres_ledger(postgres_url, tmp_path),
        key_budget={"usd": 3.5, "period": "month"},
        store=on_redis(private_redis),
        budgets={"reconcile_interval_s": 0.05},
    )
    one, other = await gateways.start(config), await gateways.start(config)
    assert [await outcome(one), await outcome(other), await outcome(one)] == ["OK"] * 3
    assert await settled_spend(postgres_url, 3) == 3_000_000_000

    client = redis.asyncio.Redis.from_url(private_redis.url)
    try:
        await asyncio.sleep(0.3)  # both reconcilers raise the counter to the ledger's $3, several times
        assert float(await client.get(COUNTER) or 0) == 3.0
        await client.flushall()
        # Both gateways find the counter missing at once and seed it, while both reconcile it.
        outcomes = await asyncio.gather(*(outcome(gateway, FREE) for gateway in [one, other] * 8))
        assert outcomes == ["OK"] * 16
        await asyncio.sleep(0.3)
        assert float(await client.get(COUNTER) or 0) == 3.0, "seeded to the sum, not to twice the sum"
    finally:
        await client.aclose()
    # $3 of $3.5: one more call fits, and then the month is spent, on either gateway.
    assert [await outcome(other), await outcome(one), await outcome(other)] == [
        "OK",
        "BUDGET_EXCEEDED",
        "BUDGET_EXCEEDED",
    ]


@pytest.mark.parametrize("fail_open", [True, False])
async def test_counters_the_ledger_could_not_seed_are_raised_once_it_answers(
    tmp_path: Path,
    private_postgres: PostgresServer,
    gateways_on: GatewaysOn,
    caplog: pytest.LogCaptureFixture,
    fail_open: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="llmgateway.limits.budget_book")
    url = private_postgres.create_database("ledger")
    gateways = gateways_on(Calendar("2031-05-14T12:00:00+00:00"))
    config = budget_config(
        postgres_ledger(url, tmp_path),
        key_budget={"usd": 2.5, "period": "month"},
        budgets={"reconcile_interval_s": 0.1},
        store={"fail_open": fail_open},
    )
    first = await gateways.start(config)
    assert [await outcome(first) for _ in range(3)] == ["OK"] * 3
    await gateways.stop(first)

    await asyncio.to_thread(private_postgres.stop)
    again = await gateways.start(config)  # a memory store: the month's spend is in the ledger alone
    while_down = "OK" if fail_open else "LIMITS_UNAVAILABLE"
    assert [await outcome(again, FREE) for _ in range(3)] == [while_down] * 3
    await asyncio.to_thread(private_postgres.start)
    async with asyncio.timeout(30):
        while await outcome(again, FREE) == while_down:
            await asyncio.sleep(0.1)
    assert await outcome(again) == "BUDGET_EXCEEDED"
    budget_lines = [r.levelname for r in caplog.records if r.name == "llmgateway.limits.budget_book"]
    assert budget_lines == ["WARNING", "INFO"], "said once when it went, once when it came back"
    assert PASSWORD not in caplog.text
