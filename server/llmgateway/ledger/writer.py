"""The ledger's writer: a thread that takes records from a bounded in-memory queue and inserts them
in batches; what the database cannot take goes to the spool, replayed when it can.

A thread with the synchronous drivers rather than asyncio drivers on the event loop: the call path
only appends to a deque (no await, no lock, no database code on the loop), so a slow or dead
database can delay nothing but this thread; a connect that hangs in DNS or TCP, driver parsing and
Alembic (synchronous only) all stay off the loop. The stdlib sqlite3 and psycopg 3 are the best-kept
drivers of each database, and one thread writing batches needs no async concurrency.

Every insert is idempotent (ON CONFLICT (call_id) DO NOTHING), so a batch that reached the database
and was spooled anyway (a timeout after the commit, a shutdown that gave up waiting) counts once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from llmgateway.config import LedgerSettings
from llmgateway.ledger.rows import Row
from llmgateway.ledger.schema import calls
from llmgateway.ledger.schema_version import SchemaError, ensure_current
from llmgateway.ledger.spool import SpoolAppender, SpoolFolder
from llmgateway.observability.metrics import GatewayMetrics

_log = logging.getLogger(__name__)


def _idempotent_insert(engine: Engine) -> sa.Insert:
    if engine.dialect.name == "postgresql":
        return postgresql.insert(calls).on_conflict_do_nothing(index_elements=["call_id"])
    return sqlite.insert(calls).on_conflict_do_nothing(index_elements=["call_id"])


def _database_down(error: SQLAlchemyError) -> bool:
    """The database could not be reached or gave up (retry later), as opposed to refusing the
    records themselves (retrying would fail for ever)."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sa.exc.OperationalError | sa.exc.InterfaceError
        )
    return True


class LedgerWriter:
    """Records in, batches out. `submit` is the call path's (event-loop thread); the rest runs in
    the writer thread, except `stop`, which the loop awaits in a worker thread."""

    def __init__(
        self,
        engine: Engine,
        settings: LedgerSettings,
        metrics: GatewayMetrics,
        *,
        schema_checked: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert settings.spool_dir is not None
        self._engine, self._settings, self._metrics, self._clock = engine, settings, metrics, clock
        self._insert = _idempotent_insert(engine)
        self._queue: deque[Row] = deque()
        self._wake = threading.Event()
        self._stopping = False
        # Held while the writer takes a batch and while a shutdown that gave up takes what is left,
        # so no batch is in neither's hands.
        self._hand_over = threading.Lock()
        self._in_hand: list[Row] = []
        self._abandoned = False
        spool_dir: Path = settings.spool_dir
        self._overflow = SpoolAppender(spool_dir, "overflow", sync=False)  # the call path's
        self._failed = SpoolAppender(spool_dir, "writer", sync=True)  # the writer's
        self._spool = SpoolFolder(spool_dir)
        self._schema_checked = schema_checked
        # Unreachable at start (not checked): down until the first write (the start logged it).
        self._up = schema_checked
        self._retry_at = 0.0
        self._replay_at = 0.0  # replay at once: a spool left by an earlier process
        self._thread = threading.Thread(target=self._run, name="llmgateway-ledger", daemon=True)
        metrics.ledger_up.set(1 if schema_checked else 0)

    @property
    def engine(self) -> Engine:
        """The database's engine (the ledger's reads share its pool and timeouts)."""
        return self._engine

    def start(self) -> None:
        self._thread.start()

    # -- the call path -------------------------------------------------------------------------

    def submit(self, row: Row) -> None:
        """Queue a record; beyond the bound, straight to the spool. Never blocks on the database."""
        queue = self._queue
        if len(queue) >= self._settings.queue_bound or self._abandoned:
            self._spool_to(self._overflow, [row])
            self._replay_at = 0.0
            return
        queue.append(row)
        if len(queue) == self._settings.batch_size:
            self._wake.set()

    # -- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        interval = self._settings.flush_interval_s
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            stopping = self._stopping
            try:
                while self._write_next_batch():
                    pass
                now = self._clock()
                if now >= self._replay_at and (self._up or now >= self._retry_at):
                    self._replay()
            except Exception:
                # A bug or the spool's disk failing: logged, and the writer goes on (a dead writer
                # would leave every later record to the overflow spool).
                _log.exception("ledger: the writer failed; going on")
            self._metrics.ledger_queue.set(len(self._queue))
            if stopping and not self._queue:
                return

    def _write_next_batch(self) -> bool:
        """Insert (or spool) the next batch; False when the queue is empty or the writer abandoned."""
        size = self._settings.batch_size
        with self._hand_over:
            if self._abandoned or not self._queue:
                return False
            queue = self._queue
            self._in_hand = batch = [queue.popleft() for _ in range(min(size, len(queue)))]
        if self._usable():
            try:
                self._insert_rows(batch)
            except SQLAlchemyError as error:
                self._failed_write(error, batch)
            else:
                self._metrics.ledger_records.labels("written").inc(len(batch))
        else:
            self._spooled(batch)
        with self._hand_over:
            self._in_hand = []
        return True

    def _usable(self) -> bool:
        """Whether to try the database now: it is up, or it was down long enough to try again; and
        its schema is one this build writes (checked here when it was unreachable at start)."""
        if not self._up and self._clock() < self._retry_at:
            return False
        if not self._schema_checked:
            try:
                ensure_current(self._engine, migrate=self._settings.migrates_on_start)
            except SchemaError as error:
                # Not an outage: someone must act. Records wait in the spool meanwhile.
                _log.error("ledger: not writing: %s", error)
                self._down()
                return False
            except SQLAlchemyError as error:
                self._failed_write(error, [])
                return False
            self._schema_checked = True
        return True

    def _insert_rows(self, rows: list[Row]) -> None:
        with self._engine.begin() as connection:
            connection.execute(self._insert, rows)
        if not self._up:
            self._up = True
            self._metrics.ledger_up.set(1)
            self._replay_at = 0.0
            _log.warning("ledger: the database takes records again; replaying the spool")

    def _failed_write(self, error: SQLAlchemyError, batch: list[Row]) -> None:
        self._metrics.ledger_write_errors.inc()
        if batch and not _database_down(error):
            self._one_by_one(batch)
            return
        if self._up:
            # Expected (a restart, a failover, a network blip): a WARNING, the spool keeps the records.
            _log.warning(
                "ledger: the database is unavailable (%s); spooling records to %s until it is back",
                error.__class__.__name__,
                self._settings.spool_dir,
            )
        self._down()
        self._spooled(batch)

    def _down(self) -> None:
        self._up = False
        self._metrics.ledger_up.set(0)
        self._retry_at = self._clock() + self._settings.retry_interval_s

    def _spooled(self, batch: list[Row]) -> None:
        if batch:
            self._spool_to(self._failed, batch)

    def _spool_to(self, spool: SpoolAppender, rows: list[Row]) -> None:
        """Append to a spool file; a spool that cannot be written (a full disk) loses the records,
        which is an ERROR and counted (`lost`), never an exception on the call path."""
        try:
            self._metrics.ledger_records.labels("spooled").inc(spool.append(rows))
        except OSError as error:
            self._metrics.ledger_records.labels("lost").inc(len(rows))
            _log.error("ledger: %d records lost: the spool cannot be written (%s)", len(rows), error)

    def _one_by_one(self, batch: list[Row]) -> bool:
        """A batch the database refused for its content: each record alone, so one bad record
        cannot hold the others back; those refused alone are kept aside (a rejected-* file) and
        counted. False when the database went down meanwhile (the rest is spooled)."""
        rejected = []
        for index, row in enumerate(batch):
            try:
                self._insert_rows([row])
            except SQLAlchemyError as error:
                if _database_down(error):
                    self._failed_write(error, batch[index:])
                    return False
                rejected.append(row)
                _log.error(
                    "ledger: the database refused the record of call %s: %s",
                    row.get("call_id"),
                    error.__class__.__name__,
                )
            else:
                self._metrics.ledger_records.labels("written").inc()
        if rejected:
            self._spool.keep_rejected(rejected)
            self._metrics.ledger_records.labels("rejected").inc(len(rejected))
        return True

    def _replay(self) -> None:
        """Put the spool's records into the database, file by file (this process's own files are
        sealed first). A database that is down stops it; the file is given back for the next try
        (its records already in count once: the insert is idempotent)."""
        self._replay_at = self._clock() + self._settings.retry_interval_s
        if not self._usable():
            return
        self._overflow.seal()
        self._failed.seal()
        for path in self._spool.claim():
            replayed = 0
            for rows in SpoolFolder.read(path, self._settings.batch_size):
                try:
                    self._insert_rows(rows)
                except SQLAlchemyError as error:
                    self._metrics.ledger_write_errors.inc()
                    if _database_down(error) or not self._one_by_one(rows):
                        self._down()
                        SpoolFolder.release(path)
                        return
                replayed += len(rows)
            SpoolFolder.done(path)
            self._metrics.ledger_records.labels("replayed").inc(replayed)

    # -- shutdown ------------------------------------------------------------------------------

    def stop(self, timeout_s: float) -> int:
        """Write what is queued (or spool it), within `timeout_s`; after that, what the writer has
        not written goes to the spool. How many records were spooled that way. Blocking: the event
        loop runs it in a worker thread."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.seal()
            self._engine.dispose()
            return 0
        with self._hand_over:
            self._abandoned = True
            left = [*self._in_hand, *self._queue]
            self._queue.clear()
        self._spool_to(self._overflow, left)
        spooled = len(left)
        self._overflow.seal()
        _log.warning(
            "ledger: the database did not take the last records within %gs; %d spooled to %s",
            timeout_s,
            spooled,
            self._settings.spool_dir,
        )
        return spooled

    def seal(self) -> None:
        """Make this process's spool files ready for whoever replays next."""
        self._overflow.seal()
        self._failed.seal()
