"""One admin change as one database transaction: the change itself, its audit event (who, what,
on what, before and after) and the bump of the revision the replicas poll, committed together, so
no replica sees a change the audit record lacks, nor misses one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from llmgateway.ledger.schema import admin_audit_events, admin_revision


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as audit events name it: never a secret."""

    name: str  # admin-key:<id> or client-cert:<identity>


@dataclass
class Change:
    """The audit event a transaction records when it commits."""

    connection: Connection
    actor: Actor
    action: str
    target_type: str
    target: str
    now_ms: int
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@contextmanager
def change(
    engine: Engine, actor: Actor, action: str, target_type: str, target: str, *, now_ms: int
) -> Iterator[Change]:
    """A transaction for one change: the body sets `before` and `after`; on leaving, the audit
    event is written and the revision bumped, and all of it commits (or none of it)."""
    with engine.begin() as connection:
        # The revision row first: its lock serialises concurrent changes, so each one reads the
        # state the previous one committed (no lost update between two admins).
        connection.execute(sa.update(admin_revision).values(revision=admin_revision.c.revision + 1))
        record = Change(connection, actor, action, target_type, target, now_ms)
        yield record
        connection.execute(
            sa.insert(admin_audit_events).values(
                time_ms=now_ms,
                actor=actor.name,
                action=action,
                target_type=target_type,
                target=target,
                before=record.before,
                after=record.after,
            )
        )


def read_revision(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(admin_revision.c.revision)).scalar_one())
