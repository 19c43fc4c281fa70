"""The spend ledger in tests: a row to write (`made_row`), and its rows read back, waited for (the
writer flushes in batches)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import sqlalchemy as sa

from llmgateway.ledger.schema import calls


def made_row(**fields: Any) -> dict[str, Any]:
    """A row of ledger_calls: one OK Chat call of 1+1 tokens costing 10 nano-USD, now, with `fields`
    instead of those defaults."""
    return {
        "call_id": uuid.uuid4().hex,
        "started_ms": int(time.time() * 1000),
        "request_id": "",
        "frontend": "grpc",
        "method": "Chat",
        "key_id": "k1",
        "tenant": "acme",
        "tags": {},
        "requested_model": "m",
        "model": "m",
        "provider": "p",
        "deployment": "d",
        "attempts": 1,
        "fallback_from": "",
        "status": "OK",
        "reason": "",
        "input_tokens": 1,
        "output_tokens": 1,
        "cached_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "cache_write_1h_input_tokens": None,
        "reasoning_tokens": 0,
        "total_tokens": 2,
        "cost_nano_usd": 10,
        "latency_us": 1000,
        "ttft_us": None,
        "cache": "off",
        **fields,
    }


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
