"""Every replica's copy of the stored keys and tenants: loaded at start, then kept current by
polling the change counter (admin.poll_interval_s) and reloading everything when it moved. One
small query per interval per replica; a full reload only on a change, which is rare (admin
actions), and whole (a snapshot is never half of two revisions).

A database that cannot be reached leaves the last snapshot in force (the gateway keeps serving
the keys it knows) and is tried again at the next interval."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from llmgateway.auth.directory import Directory, Snapshot, StoredKey
from llmgateway.config import KeyPolicy, TenantSettings
from llmgateway.governance.changes import read_revision
from llmgateway.ledger.schema import admin_keys, admin_revision, admin_tenants

_log = logging.getLogger(__name__)


def load_snapshot(engine: Engine, now_ms: int) -> Snapshot:
    """Every key not yet revoked and every tenant, at one revision (one read transaction)."""
    with engine.begin() as connection:
        revision = int(connection.execute(sa.select(admin_revision.c.revision)).scalar_one())
        rows = connection.execute(
            sa.select(admin_keys).where(
                sa.or_(admin_keys.c.revoke_ms.is_(None), admin_keys.c.revoke_ms > now_ms)
            )
        ).mappings()
        keys = {
            row["id"]: StoredKey(
                id=row["id"],
                hash=row["hash"],
                tenant=row["tenant"],
                tags=dict(row["tags"]),
                policy=KeyPolicy.model_validate(row["policy"]),
                revoke_at=row["revoke_ms"] / 1000 if row["revoke_ms"] is not None else None,
            )
            for row in rows
        }
        tenants = list(connection.execute(sa.select(admin_tenants)).mappings())
    return Snapshot(
        revision=revision,
        keys=keys,
        tenants={
            row["name"]: TenantSettings.model_validate({"name": row["name"], **row["limits"]})
            for row in tenants
        },
        disabled_tenants=frozenset(row["name"] for row in tenants if row["disabled"]),
    )


class DirectorySync:
    """Keeps a Directory at the database's latest revision."""

    def __init__(
        self,
        engine: Engine,
        directory: Directory,
        interval_s: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.directory = directory
        self._interval_s = interval_s
        self._wall = wall
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Load the database's state if its revision moved (an admin call on this replica calls
        this at once, so its own changes apply without waiting for the interval)."""
        async with self._lock:
            revision = await asyncio.to_thread(read_revision, self.engine)
            if revision == self.directory.current.revision:
                return
            snapshot = await asyncio.to_thread(load_snapshot, self.engine, int(self._wall() * 1000))
            self.directory.replace(snapshot)
            _log.info(
                "admin: keys and tenants at revision %d (%d keys, %d tenants)",
                snapshot.revision,
                len(snapshot.keys),
                len(snapshot.tenants),
            )

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.refresh()
            except SQLAlchemyError as error:
                # An outage, not a bug: the keys already loaded stay in force; said once, not at
                # every interval, and once more when the database is back.
                if not self._failing:
                    _log.warning(
                        "admin: the database is unavailable (%s): keeping the keys and tenants of revision %d",
                        error.__class__.__name__,
                        self.directory.current.revision,
                    )
                self._failing = True
            else:
                if self._failing:
                    _log.info("admin: the database is back")
                self._failing = False

    async def start(self) -> None:
        """First load (a database away at start leaves the directory empty until it answers), then
        poll in the background."""
        try:
            await self.refresh()
        except SQLAlchemyError as error:
            self._failing = True
            _log.warning(
                "admin: the database is unavailable at start (%s): keys made through the AdminService are "
                "refused until it answers",
                error.__class__.__name__,
            )
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.engine.dispose)
