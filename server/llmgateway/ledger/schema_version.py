"""The ledger's schema revision: check it at start, bring it to this build's head (Alembic).

A gateway never writes to a schema it does not know: a database at a revision this build has no
script for (a newer gateway migrated it) is refused, and so is one behind this build's head unless
migrating on start is on. Concurrent starts (workers, replicas) migrate one at a time: PostgreSQL
under an advisory lock held by the migrating transaction (its DDL is transactional), SQLite under
a lock on a file beside the database.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

_MIGRATIONS = Path(__file__).parent / "migrations"
# Alembic's INFO lines ("Context impl SQLiteImpl.", "Will assume transactional DDL.") come at every
# start; the ledger logs the migration itself.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
# pg_advisory_xact_lock's key: any constant the gateway alone uses ("llmgw" + "ldgr" in ASCII).
_ADVISORY_LOCK = 0x6C6C6D67_6C646772 - (1 << 63)


class SchemaError(Exception):
    """The database's schema is not one this build may write to; the message says what to do."""


@dataclass(frozen=True)
class Revisions:
    current: str | None  # None: an empty database
    head: str


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this build knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def _known(revision: str) -> bool:
    return revision in {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


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
        command.upgrade(_config(connection), "head")
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
            command.upgrade(_config(connection), "head")
    return Revisions(current=current, head=target)


def _refuse_unknown(engine: Engine, current: str | None) -> None:
    if current is not None and not _known(current):
        raise SchemaError(
            f"the ledger database {engine.url.render_as_string(hide_password=True)} is at schema "
            f"revision {current!r}, which this build does not know (a newer gateway migrated it): "
            f"run a build that knows it; this one's newest is {head()}"
        )
