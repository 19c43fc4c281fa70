"""The ledger's schema: migrations bring an empty database to the schema the code writes (SQLite and
PostgreSQL), concurrent starts migrate once, a gateway refuses to start on a revision it does not
know or (migration on start off) one behind it, `llmgateway db upgrade | current` manage it, and the
database password never shows in their output or the logs."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from llmgateway.app import Gateway
from llmgateway.cli import main
from llmgateway.config import LedgerSettings
from llmgateway.config.ledger import sqlite_url
from llmgateway.ledger.database import create_engine
from llmgateway.ledger.schema import metadata
from llmgateway.ledger.schema_version import (
    REVISIONS,
    SchemaError,
    alembic_config,
    ensure_current,
    head,
    revisions,
)
from tests.conftest import ECHO_CONFIG, gateway_config
from tests.postgres_server import PASSWORD, PostgresServer

pytest_plugins = ["tests.postgres_fixtures"]


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerSettings:
    if request.param == "sqlite":
        return LedgerSettings.model_validate({"url": sqlite_url(tmp_path / "ledger.db")})
    return LedgerSettings.model_validate(
        {"url": request.getfixturevalue("postgres_url"), "spool_dir": tmp_path / "spool"}
    )


def test_migrations_create_the_schema_the_code_writes(settings: LedgerSettings) -> None:
    engine = create_engine(settings)
    assert revisions(engine).current is None
    ensure_current(engine, migrate=True)
    assert revisions(engine).current == head()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    engine.dispose()


def test_concurrent_starts_migrate_once(settings: LedgerSettings) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        engine = create_engine(settings)
        try:
            ensure_current(engine, migrate=True)
        except BaseException as error:
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_engine(settings)
    assert revisions(engine).current == head()
    engine.dispose()


def _set_revision(settings: LedgerSettings, revision: str) -> None:
    engine = create_engine(settings)
    ensure_current(engine, migrate=True)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


async def test_a_gateway_never_starts_on_a_schema_it_does_not_know(settings: LedgerSettings) -> None:
    _set_revision(settings, "9999_from_the_future")
    config = gateway_config({**ECHO_CONFIG, "ledger": {**_as_data(settings), "migrate_on_start": True}})
    gateway = Gateway(config)
    with pytest.raises(SchemaError, match=r"9999_from_the_future.*does not know"):
        await gateway.start()
    assert gateway.port == 0, "refused before taking a port"


def _as_data(settings: LedgerSettings) -> dict[str, Any]:
    assert settings.url is not None
    return {"url": settings.url.get_secret_value(), "spool_dir": str(settings.spool_dir)}


def test_a_server_database_behind_is_refused_until_db_upgrade(
    postgres_server: PostgresServer,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL does not migrate on start by default: `serve` refuses with what to run; after
    `db upgrade` it is current. The password comes from the environment and shows nowhere."""
    caplog.set_level(logging.DEBUG)
    database = postgres_url.rsplit("/", 1)[1]
    monkeypatch.setenv("LEDGER_DB_PASSWORD", PASSWORD)
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(
        "providers: [{name: echo, type: echo}]\n"
        "models: [{name: echo, deployments: [{provider: echo, model: echo}]}]\n"
        "auth: {enabled: false}\n"
        "server: {listen: '127.0.0.1:0', http_listen: null, metrics_listen: null, drain_s: 0, grace_s: 1}\n"
        "ledger:\n"
        f"  url: postgresql+psycopg://llmgw:${{LEDGER_DB_PASSWORD}}@127.0.0.1:{postgres_server.port}/{database}\n"
    )
    assert main(["serve", "--config", str(config_file)]) == 1
    refusal = caplog.text + capsys.readouterr().err
    assert "not starting: " in refusal and "run `llmgateway db upgrade`" in refusal
    assert PASSWORD not in refusal
    assert main(["db", "current", "--config", str(config_file)]) == 0
    assert "at (empty)" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", str(config_file)]) == 0
    assert f"upgraded from (empty) to {head()}" in capsys.readouterr().out
    assert main(["db", "current", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert f"at {head()}" in out and "(current)" in out
    assert "llmgw:***@127.0.0.1" in out
    assert PASSWORD not in out + caplog.text


def test_db_commands_say_when_the_database_cannot_be_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.redis_server import free_port  # noqa: PLC0415

    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(
        "models: []\nledger:\n"
        f"  url: postgresql+psycopg://llmgw:{PASSWORD}@127.0.0.1:{free_port()}/nowhere\n"
        f"  spool_dir: {tmp_path / 'spool'}\n"
    )
    assert main(["db", "current", "--config", str(config_file)]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the database: OperationalError" in err
    assert PASSWORD not in err


def test_the_known_revisions_are_the_migrations_alembic_finds() -> None:
    """REVISIONS (what a start checks without Alembic) is migrations/ as Alembic reads it: a new
    migration without its revision in REVISIONS fails here, not in a gateway that refuses its own
    schema."""
    scripts = ScriptDirectory.from_config(alembic_config())
    assert [script.revision for script in reversed(list(scripts.walk_revisions()))] == list(REVISIONS)
    assert scripts.get_current_head() == head()


def test_a_start_at_head_does_not_load_alembic(settings: LedgerSettings) -> None:
    """The check every start makes reads the revision with SQLAlchemy: a process whose database is
    current never imports Alembic (its memory stays the serving process's, bench/RESULTS.md); one
    that must migrate does."""
    engine = create_engine(settings)
    ensure_current(engine, migrate=True)
    engine.dispose()
    url = settings.url.get_secret_value() if settings.url is not None else ""
    check = (
        "import sys\n"
        "from llmgateway.config import LedgerSettings\n"
        "from llmgateway.ledger.database import create_engine\n"
        "from llmgateway.ledger.schema_version import ensure_current\n"
        f"engine = create_engine(LedgerSettings.model_validate({{'url': {url!r}, 'spool_dir': {str(settings.spool_dir)!r}}}))\n"
        "print(ensure_current(engine, migrate=False).current, 'alembic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [head(), "False"]
