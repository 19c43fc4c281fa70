"""The ledger's database engine: SQLite (a file, WAL) or PostgreSQL (psycopg 3), with timeouts
that keep a slow or dead server from holding the writer, and its URL shown without a password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from llmgateway.config import ConfigError, LedgerSettings


def database_url(settings: LedgerSettings) -> URL:
    assert settings.url is not None, "no ledger database configured"
    try:
        return make_url(settings.url.get_secret_value())
    except ArgumentError:
        # Never the text itself: it may hold a password.
        raise ConfigError(
            "ledger.url: not a database URL (e.g. sqlite:///path or postgresql://...)"
        ) from None


def shown(url: URL) -> str:
    """The URL as logs and errors show it: the password masked."""
    return url.render_as_string(hide_password=True)


def _sqlite_pragmas(connection: Any, _record: object) -> None:
    # WAL: readers (reports) do not block the writer, and several workers can share the file.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(settings: LedgerSettings) -> Engine:
    """An engine for the configured database (its folder made for a SQLite file); ConfigError when
    the URL names a database this build has no driver for."""
    url = database_url(settings)
    timeout_s = settings.statement_timeout_s
    try:
        if url.get_backend_name() == "sqlite":
            database = url.database
            if database and database != ":memory:":
                folder = Path(database).parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise ConfigError(f"ledger.url: cannot create {folder}: {error.strerror}") from None
            # `timeout`: how long a write waits for another process's lock on the file.
            engine = sa.create_engine(url, connect_args={"timeout": timeout_s})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            connect_args = {
                "connect_timeout": max(2, round(timeout_s)),
                "options": f"-c statement_timeout={round(timeout_s * 1000)}",
            }
        # pre_ping: a connection the server dropped (a restart) is replaced, not used and failed.
        return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True, pool_size=2)
    except (NoSuchModuleError, ArgumentError, ImportError) as error:
        raise ConfigError(f"ledger.url: {shown(url)}: {error.__class__.__name__}: no driver for it") from None
