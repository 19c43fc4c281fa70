"""Pytest fixtures for the AdminService tests (`pytest_plugins = ["tests.admin_fixtures"]`): the
database, a SQLite file or a PostgreSQL database of its own, and stubs on gateways' channels."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.config.ledger import sqlite_url
from tests.admin_support import Stubs


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The database: a SQLite file, or a database of its own in the session's PostgreSQL."""
    if request.param == "sqlite":
        return {"url": sqlite_url(tmp_path / "gateway.db")}
    url = request.getfixturevalue("postgres_url")
    return {"url": url, "migrate_on_start": True, "spool_dir": str(tmp_path / "spool")}


@pytest.fixture
async def stubs() -> AsyncIterator[Callable[[Gateway], Stubs]]:
    channels: list[grpc.aio.Channel] = []

    def open_stubs(gateway: Gateway) -> Stubs:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}")
        channels.append(channel)
        return Stubs(channel)

    yield open_stubs
    for channel in channels:
        await channel.close()
