"""The ledger's read side for budgets (ledger/spend.py) on SQLite and PostgreSQL: exact sums per key
and per tenant over [start, end), many holders in one call, the covering index the sums read alone,
and an unreachable database said as SpendUnavailableError without its password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgateway.config import LedgerSettings
from llmgateway.config.ledger import sqlite_url
from llmgateway.ledger.database import create_engine
from llmgateway.ledger.schema import calls
from llmgateway.ledger.schema_version import ensure_current
from llmgateway.ledger.spend import LedgerSpend, spend_query
from llmgateway.limits.budget_book import SpendUnavailableError
from tests.ledger_rows import made_row

pytest_plugins = ["tests.postgres_fixtures"]

DAY_MS = 86_400_000
START_MS = 1_900_000_000_000  # a period's start


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        settings = LedgerSettings.model_validate({"url": sqlite_url(tmp_path / "ledger.db")})
    else:
        settings = LedgerSettings.model_validate(
            {"url": request.getfixturevalue("postgres_url"), "spool_dir": tmp_path / "spool"}
        )
    made = create_engine(settings)
    ensure_current(made, migrate=True)
    yield made
    made.dispose()


def row(number: int, key_id: str, tenant: str, started_ms: int, cost_nano_usd: int) -> dict[str, Any]:
    return made_row(
        call_id=f"call-{number}",
        request_id=f"req-{number}",
        key_id=key_id,
        tenant=tenant,
        started_ms=started_ms,
        cost_nano_usd=cost_nano_usd,
    )


def insert(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(sa.insert(calls), rows)


async def test_sums_per_key_and_tenant_over_the_period_exactly(engine: Engine) -> None:
    insert(
        engine,
        [
            row(1, "k1", "acme", START_MS - 1, 5_000_000_000),  # the period before
            row(2, "k1", "acme", START_MS, 100_000_001),  # its first millisecond
            row(3, "k1", "acme", START_MS + DAY_MS - 1, 200_000_002),  # its last
            row(4, "k2", "acme", START_MS + 5, 1),
            row(5, "k3", "other", START_MS + 5, 7_000_000_000),
            row(6, "k1", "acme", START_MS + DAY_MS, 9_000_000_000),  # the next period
        ],
    )
    spend = LedgerSpend(engine)
    start_s, end_s = START_MS / 1000, (START_MS + DAY_MS) / 1000
    assert await spend.spent("key", ["k1", "k2", "nobody"], start_s, end_s) == {
        "k1": 0.300000003,
        "k2": 0.000000001,
    }
    assert await spend.spent("tenant", ["acme", "other"], start_s, end_s) == {
        "acme": 0.300000004,
        "other": 7.0,
    }
    assert await spend.spent("key", [], start_s, end_s) == {}


async def test_many_holders_in_one_call(engine: Engine) -> None:
    insert(engine, [row(n, f"key{n}", "acme", START_MS + n, n) for n in range(1, 1201)])
    holders = [f"key{n}" for n in range(1, 1301)]
    sums = await LedgerSpend(engine).spent("key", holders, START_MS / 1000, (START_MS + DAY_MS) / 1000)
    assert len(sums) == 1200 and sums["key1200"] == 1200 / 1e9


@pytest.mark.parametrize("kind", ["key", "tenant"])
def test_the_sum_reads_the_covering_index_alone(engine: Engine, kind: Any) -> None:
    # A month of calls of 200 keys in 20 tenants, and the database's statistics of them: plans are
    # chosen by what the table holds (an empty one is scanned whole, whatever its indexes).
    insert(
        engine,
        [row(n, f"key{n % 200}", f"tenant{n % 20}", START_MS + n * 300_000, n) for n in range(8_000)],
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            "VACUUM ANALYZE ledger_calls" if engine.dialect.name == "postgresql" else "ANALYZE"
        )
    holder = "key7" if kind == "key" else "tenant7"
    query = spend_query(kind, [holder], START_MS + DAY_MS, START_MS + 2 * DAY_MS)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    column = "key_id" if kind == "key" else "tenant"
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(step[-1]) for step in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert f"USING COVERING INDEX ix_ledger_calls_{column}_started_ms_cost" in plan
        else:
            plan = " ".join(step[0] for step in connection.exec_driver_sql(f"EXPLAIN {sql}"))
            assert f"Index Only Scan using ix_ledger_calls_{column}_started_ms_cost" in plan


async def test_an_unreachable_database_is_spend_unavailable(tmp_path: Path) -> None:
    settings = LedgerSettings.model_validate(
        {
            "url": "postgresql+psycopg://gw:hunter2secret@127.0.0.1:1/ledger",
            "spool_dir": tmp_path / "spool",
        }
    )
    engine = create_engine(settings)
    with pytest.raises(SpendUnavailableError) as failure:
        await LedgerSpend(engine).spent("key", ["k1"], 0, 1)
    assert "OperationalError" in str(failure.value) and "hunter2secret" not in str(failure.value)
    engine.dispose()
