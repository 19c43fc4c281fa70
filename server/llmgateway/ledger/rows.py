"""A settled call as a ledger row: plain values (the writer thread inserts them, the spool stores
them as JSON), made once on the call path from the call's outcome record."""

from __future__ import annotations

from typing import Any

from llmgateway.observability.call_record import CallRecord

Row = dict[str, Any]

_NANO = 1_000_000_000


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, which a caller's label may carry: one such row would fail
    # its whole batch.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def call_row(call: CallRecord, status: str, elapsed_s: float) -> Row:
    """The ledger row of a call that ended with `status` after `elapsed_s`."""
    usage = call.usage
    ttft = call.ttft_s
    return {
        "call_id": call.call_id,
        "started_ms": int(call.started_at * 1000),
        "request_id": call.request_id,
        "frontend": call.frontend,
        "method": call.method,
        "key_id": call.key_id,
        "tenant": _text(call.tenant),
        "tags": {_text(name): _text(value) for name, value in call.labels.items()},
        "requested_model": _text(call.requested_model),
        "model": call.model,
        "provider": call.provider,
        "deployment": call.deployment,
        "attempts": call.attempts,
        "fallback_from": call.fallback_from,
        "status": status,
        "reason": call.reason,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_input_tokens": usage.cache_write_input_tokens,
        "cache_write_1h_input_tokens": (
            usage.cache_write_1h_input_tokens if usage.HasField("cache_write_1h_input_tokens") else None
        ),
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": usage.total_tokens,
        "cost_nano_usd": round(usage.cost_usd * _NANO),
        "latency_us": round(elapsed_s * 1_000_000),
        "ttft_us": None if ttft is None else round(ttft * 1_000_000),
        "cache": call.cache,
    }


# Columns added after the first schema, all nullable: a spool file written by an earlier build (the
# spool outlives upgrades) has rows without them, which are replayed with them empty.
_LATER_COLUMNS = ("cache_write_1h_input_tokens",)


def completed(row: Row) -> Row:
    """A spooled row with the columns added since it was written (empty)."""
    for name in _LATER_COLUMNS:
        row.setdefault(name, None)
    return row
