"""Cache writes by lifetime: the 1-hour part of a call's prompt-cache writes (llmgateway.v1
Usage.cache_write_1h_input_tokens), beside their total. NULL when the provider gave no breakdown
(and on every row written before this revision): the cost column is right either way, this one
says how the writes split where the provider said.

Adding a nullable column with no default is a change of the catalogue alone on both databases (no
table rewrite, no lock held long), so the writer does not stall while it runs.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger_calls", sa.Column("cache_write_1h_input_tokens", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_calls") as table:  # SQLite drops a column by a table copy
        table.drop_column("cache_write_1h_input_tokens")
