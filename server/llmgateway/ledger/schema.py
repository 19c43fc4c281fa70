"""The ledger's tables, as SQLAlchemy Core metadata: what the migrations create and the writer
inserts into. A change here needs a migration in migrations/versions/ (the tests compare both)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

# Strings are unbounded (TEXT / VARCHAR without a length): a value longer than a guess must never
# make a batch fail in PostgreSQL and block the ledger behind it.
calls = sa.Table(
    "ledger_calls",
    metadata,
    # Made by the gateway for each call (a caller's request_id may repeat): the key of the
    # idempotent insert, so a spool replayed twice counts each call once.
    sa.Column("call_id", sa.String(), primary_key=True),
    # When the call started, in milliseconds since the Unix epoch (UTC): one integer type that
    # SQLite and PostgreSQL compare, index and bucket (by hour, day, month) the same way.
    sa.Column("started_ms", sa.BigInteger(), nullable=False),
    sa.Column("request_id", sa.String(), nullable=False),
    sa.Column("frontend", sa.String(), nullable=False),  # grpc, openai, anthropic
    sa.Column("method", sa.String(), nullable=False),  # Chat, ChatStream, ...
    # The API key's id, never the key or its hash; "" when authentication is off or failed.
    sa.Column("key_id", sa.String(), nullable=False),
    sa.Column("tenant", sa.String(), nullable=False),
    # The call's labels (the caller's, and the key's policy labels over them).
    sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    sa.Column("requested_model", sa.String(), nullable=False),
    sa.Column("model", sa.String(), nullable=False),
    sa.Column("provider", sa.String(), nullable=False),
    sa.Column("deployment", sa.String(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("fallback_from", sa.String(), nullable=False),
    sa.Column("status", sa.String(), nullable=False),  # the gRPC status code's name
    sa.Column("reason", sa.String(), nullable=False),  # the ErrorInfo reason of a failed call
    sa.Column("input_tokens", sa.Integer(), nullable=False),
    sa.Column("output_tokens", sa.Integer(), nullable=False),
    sa.Column("cached_input_tokens", sa.Integer(), nullable=False),
    sa.Column("cache_write_input_tokens", sa.Integer(), nullable=False),
    sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
    sa.Column("total_tokens", sa.Integer(), nullable=False),
    # nano-dollars (US dollars times 10^9), an integer: sums over millions of rows are exact in both databases (a
    # float's would depend on the order of addition; SQLite has no exact decimal).
    sa.Column("cost_nano_usd", sa.BigInteger(), nullable=False),
    sa.Column("latency_us", sa.BigInteger(), nullable=False),
    sa.Column("ttft_us", sa.BigInteger(), nullable=True),  # none: no content reached the caller
    sa.Column("cache", sa.String(), nullable=False),  # off, miss, hit, ...
    # Time-range grouping.
    sa.Index("ix_ledger_calls_started_ms", "started_ms"),
    # A key's or tenant's calls in a time range; with their cost, so a budget's sum for its period
    # (ledger/spend.py) reads the index alone, never the rows (migration 0002).
    sa.Index("ix_ledger_calls_tenant_started_ms_cost", "tenant", "started_ms", "cost_nano_usd"),
    sa.Index("ix_ledger_calls_key_id_started_ms_cost", "key_id", "started_ms", "cost_nano_usd"),
)
