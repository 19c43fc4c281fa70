"""Alembic's environment for the ledger: always online, on the connection the gateway hands over
(config.attributes["connection"]), so the migration runs in the caller's transaction and lock."""

from __future__ import annotations

from alembic import context

from llmgateway.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
