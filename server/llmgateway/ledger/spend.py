"""The ledger's read side for budgets: what keys or tenants spent in a time range, summed by the
database over the calls' records (the spend of record that budget counters are seeded from and
reconciled with, limits/budget_book.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgateway.ledger.schema import calls
from llmgateway.limits.budget_book import HolderKind, SpendUnavailableError

_NANO = 1_000_000_000
# Holders per query: far below any database's limit on bound parameters.
_CHUNK = 500


class LedgerSpend:
    """Sums of `cost_nano_usd` per key id or tenant over `started_ms` ranges: an index range scan on
    (key_id | tenant, started_ms, cost_nano_usd), which also holds the cost, so the database reads
    the index alone (migration 0002). Queries run in a worker thread with the synchronous driver,
    like the writer's inserts, on the writer's engine (its pool and timeouts)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def spent(
        self, kind: HolderKind, holders: Sequence[str], start_s: float, end_s: float
    ) -> dict[str, float]:
        """US dollars per holder with any spend in [start_s, end_s); SpendUnavailableError when the
        database cannot answer (the error's class only: its text may carry the URL)."""
        return await asyncio.to_thread(self._sums, kind, list(holders), start_s, end_s)

    def _sums(self, kind: HolderKind, holders: list[str], start_s: float, end_s: float) -> dict[str, float]:
        # A call is dated by its start, in whole milliseconds (ledger/rows.py truncates the same way).
        start_ms, end_ms = int(start_s * 1000), int(end_s * 1000)
        totals: dict[str, float] = {}
        try:
            with self._engine.connect() as connection:
                for first in range(0, len(holders), _CHUNK):
                    query = spend_query(kind, holders[first : first + _CHUNK], start_ms, end_ms)
                    for holder, nano_usd in connection.execute(query):
                        # An integer sum (PostgreSQL: numeric) divided once: exact to the nano-dollar.
                        totals[holder] = int(nano_usd) / _NANO
        except SQLAlchemyError as error:
            raise SpendUnavailableError(f"the ledger database failed: {error.__class__.__name__}") from None
        return totals


def spend_query(kind: HolderKind, holders: Sequence[str], start_ms: int, end_ms: int) -> sa.Select[str, int]:
    """Nano-dollars per holder (key id or tenant) over calls started in [start_ms, end_ms)."""
    column = calls.c.key_id if kind == "key" else calls.c.tenant
    return (
        sa.select(column, sa.func.sum(calls.c.cost_nano_usd))
        .where(column.in_(holders), calls.c.started_ms >= start_ms, calls.c.started_ms < end_ms)
        .group_by(column)
    )
