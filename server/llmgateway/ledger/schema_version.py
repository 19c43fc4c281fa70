"""The ledger's schema revision: check it at start, bring it to this build's head (Alembic).

A gateway never writes to a schema it does not know: a database at a revision this build has no
script for (a newer gateway migrated it) is refused, and so is one behind this build's head unless
migrating on start is on. Concurrent starts (workers, replicas) migrate one at a time: PostgreSQL
under an advisory lock held by the migrating transaction (its DDL is transactional), SQLite under
a lock on a file beside the database.

Alembic is imported only to migrate. The check every start makes — the revision in Alembic's
`alembic_version` table against this build's — reads the table with SQLAlchemy and compares it with
REVISIONS, so a worker (and the supervisor) of a database already at head never loads Alembic and
its migration scripts: about 10 MiB of every process's memory (bench/RESULTS.md, the design's
table). tests/test_ledger_schema.py holds REVISIONS equal to what Alembic reads from migrations/.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from llmgateway.ledger.schema_error import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "REVISIONS",
    "Revisions",
    "SchemaError",
    "alembic_config",
    "ensure_current",
    "head",
    "revisions",
    "upgrade",
]

_MIGRATIONS = Path(__file__).parent / "migrations"
# The revisions of migrations/versions/, oldest first: the last is this build's head.
REVISIONS = ("0001", "0002", "0003", "0004")
# Where Alembic keeps a database's revision (its default name and schema; env.py keeps both).
_VERSION_TABLE = "alembic_version"
# Alembic's INFO lines ("Context impl SQLiteImpl.", "Will assume transactional DDL.") come at every
# migration; the ledger logs the migration itself.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
# pg_advisory_xact_lock's key: any constant the gateway alone uses ("llmgw" + "ldgr" in ASCII).
_ADVISORY_LOCK = 0x6C6C6D67_6C646772 - (1 << 63)


@dataclass(frozen=True)
class Revisions:
    current: str | None  # None: an empty database
    head: str


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for migrations/ (imported here: only migrating needs Alembic)."""
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this build knows."""
    return REVISIONS[-1]


def _known(revision: str) -> bool:
    return revision in REVISIONS


def _current(connection: Connection) -> str | None:
    """The database's revision as Alembic recorded it; None for a database Alembic never touched
    (as Alembic's MigrationContext.get_current_revision reads it, without loading Alembic)."""
    if not sa.inspect(connection).has_table(_VERSION_TABLE):
        return None
    version_num = sa.column("version_num", sa.String())
    found = connection.execute(sa.select(version_num).select_from(sa.table(_VERSION_TABLE))).scalars().all()
    if len(found) > 1:  # branches: this build's migrations never make them
        raise SchemaError(f"the ledger database is at several schema revisions at once: {sorted(found)}")
    return found[0] if found else None


def _upgrade(connection: Connection) -> None:
    from alembic import command  # noqa: PLC0415

    command.upgrade(alembic_config(connection), "head")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A transaction no other gateway migrates in at the same time."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        lock_path = Path(f"{engine.url.database}.migrate-lock")
        with lock_path.open("a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            with engine.begin() as connection:
                yield connection
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
        yield connection


def revisions(engine: Engine) -> Revisions:
    """Where the database is and where this build's head is (`llmgateway db current`)."""
    with engine.connect() as connection:
        return Revisions(current=_current(connection), head=head())


def upgrade(engine: Engine) -> Revisions:
    """Bring the database to this build's head (`llmgateway db upgrade`); what it was before."""
    with _migration_lock(engine) as connection:
        before = _current(connection)
        _refuse_unknown(engine, before)
        _upgrade(connection)
    return Revisions(current=before, head=head())


def ensure_current(engine: Engine, *, migrate: bool) -> Revisions:
    """SchemaError unless the database is at this build's head, after migrating it when `migrate`."""
    with _migration_lock(engine) as connection:
        current = _current(connection)
        _refuse_unknown(engine, current)
        target = head()
        if current != target:
            if not migrate:
                raise SchemaError(
                    f"the ledger database {engine.url.render_as_string(hide_password=True)} is at schema "
                    f"revision {current or '(empty)'}; this build needs {target}: run `llmgateway db "
                    "upgrade` (or set ledger.migrate_on_start)"
                )
            _upgrade(connection)
    return Revisions(current=current, head=target)


def _refuse_unknown(engine: Engine, current: str | None) -> None:
    if current is not None and not _known(current):
        raise SchemaError(
            f"the ledger database {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {current!r}, which this build does not know (a newer gateway migrated it): "
            f"run a build that knows it; this one's newest is {head()}"
        )
