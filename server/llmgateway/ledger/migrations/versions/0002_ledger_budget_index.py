"""Budget sums from the index alone: the (key_id | tenant, started_ms) indexes also hold the cost.

A budget's counter is seeded from, and reconciled with, `SELECT sum(cost_nano_usd) ... WHERE key_id
= ? AND started_ms >= ? AND started_ms < ?` (ledger/spend.py), every reconciliation interval for
each key and tenant in use. With the cost in the index, both databases answer from the index
(PostgreSQL an index-only scan, SQLite a covering index) instead of fetching a month of rows. The
new indexes serve every query the old ones did (same leading columns), so those are dropped.

Building an index takes a lock that holds writes back on PostgreSQL: meanwhile the gateway's writer
times out (ledger.statement_timeout_s) and spools, and replays when the upgrade is done.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_ledger_calls_tenant_started_ms_cost", "ledger_calls", ["tenant", "started_ms", "cost_nano_usd"]
    )
    op.create_index(
        "ix_ledger_calls_key_id_started_ms_cost", "ledger_calls", ["key_id", "started_ms", "cost_nano_usd"]
    )
    op.drop_index("ix_ledger_calls_tenant_started_ms", table_name="ledger_calls")
    op.drop_index("ix_ledger_calls_key_id_started_ms", table_name="ledger_calls")


def downgrade() -> None:
    op.create_index("ix_ledger_calls_tenant_started_ms", "ledger_calls", ["tenant", "started_ms"])
    op.create_index("ix_ledger_calls_key_id_started_ms", "ledger_calls", ["key_id", "started_ms"])
    op.drop_index("ix_ledger_calls_tenant_started_ms_cost", table_name="ledger_calls")
    op.drop_index("ix_ledger_calls_key_id_started_ms_cost", table_name="ledger_calls")
