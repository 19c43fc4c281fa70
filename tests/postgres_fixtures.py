"""Pytest fixtures for a real PostgreSQL. Use with `pytest_plugins = ["tests.postgres_fixtures"]`.

CI must not skip these tests: a missing PostgreSQL fails them, pointing at `make test`, which
installs it (mk/postgres.mk). On a machine without it, LLMGW_SKIP_POSTGRES=1 skips them instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, find_postgres_bin

SKIP_ENV = "LLMGW_SKIP_POSTGRES"


def postgres_bin() -> Path:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: PostgreSQL tests skipped")
    found = find_postgres_bin()
    if found is None:
        pytest.fail(
            "PostgreSQL not found (/usr/lib/postgresql/*/bin or initdb on PATH): `make test` installs it "
            f"(mk/postgres.mk: make postgresql); to skip the PostgreSQL tests locally set {SKIP_ENV}=1",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One cluster for the session (per xdist worker); tests keep apart with `postgres_url`."""
    with PostgresServer(postgres_bin()) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database of its own for each test."""
    return postgres_server.create_database(f"llmgw_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A cluster for one test alone, which the test may stop and restart (same port, data kept)."""
    with PostgresServer(postgres_bin()) as server:
        yield server
