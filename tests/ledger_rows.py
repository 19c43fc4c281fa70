"""Reading the spend ledger back in tests: its rows, waited for (the writer flushes in batches)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from llmgateway.ledger.schema import calls


def ledger_rows(url: str) -> list[dict[str, Any]]:
    """Every row of the ledger at `url`, oldest first."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(calls).order_by(calls.c.started_ms)).mappings().all()
            return [dict(row) for row in rows]
    finally:
        engine.dispose()


async def rows_when_settled(url: str, expected: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """The ledger's rows once there are `expected` of them and no more arrive (a call recorded
    twice would show in the extra moment waited)."""
    async with asyncio.timeout(timeout_s):
        while True:
            rows = await asyncio.to_thread(ledger_rows, url)
            if len(rows) >= expected:
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    return await asyncio.to_thread(ledger_rows, url)
