"""The ledger as the rest of the gateway sees it: opened at start (schema checked, or migrated),
one `record` per settled call, `spend` for budgets to read, closed on shutdown (queue flushed to
the database or the spool)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from llmgateway.config import LedgerSettings
from llmgateway.ledger.database import create_engine, database_url, shown
from llmgateway.ledger.rows import call_row
from llmgateway.ledger.schema_version import ensure_current
from llmgateway.ledger.spend import LedgerSpend
from llmgateway.ledger.writer import LedgerWriter
from llmgateway.observability.call_record import CallRecord
from llmgateway.observability.metrics import GatewayMetrics

_log = logging.getLogger(__name__)


def prepare_schema(settings: LedgerSettings) -> None:
    """The schema check (and migration, when configured) once, before worker processes start, so
    a refusal is one clear message rather than one per worker. SchemaError when refused; a database
    that cannot be reached is left to the workers (they start and spool)."""
    engine = create_engine(settings)
    try:
        ensure_current(engine, migrate=settings.migrates_on_start)
    except SQLAlchemyError:
        pass
    finally:
        engine.dispose()


class Ledger:
    """Where settled calls go. Use `await Ledger.open(...)`, then `record`, then `aclose`."""

    def __init__(self, writer: LedgerWriter, settings: LedgerSettings) -> None:
        self._writer = writer
        self._settings = settings
        # What keys and tenants spent, for budgets, on the writer's engine (stop reading before
        # `aclose`, which disposes of it).
        self.spend = LedgerSpend(writer.engine)

    @classmethod
    async def open(cls, settings: LedgerSettings, metrics: GatewayMetrics) -> Ledger:
        """Connect, check the schema (migrating it when configured) and start the writer. A
        database that cannot be reached is an outage, not a refusal: the gateway starts, records
        wait in the spool, and the schema is checked once it answers. A schema this build does not
        know raises SchemaError (the gateway must not start)."""
        engine = create_engine(settings)
        where = shown(database_url(settings))
        try:
            revisions = await asyncio.to_thread(ensure_current, engine, migrate=settings.migrates_on_start)
        except SQLAlchemyError as error:
            _log.warning(
                "ledger: the database %s is unavailable at start (%s); records are spooled to %s until it is back",
                where,
                error.__class__.__name__,
                settings.spool_dir,
            )
            checked = False
        else:
            checked = True
            if revisions.current != revisions.head:
                _log.info(
                    "ledger: migrated %s from %s to %s", where, revisions.current or "(empty)", revisions.head
                )
        writer = LedgerWriter(engine, settings, metrics, schema_checked=checked)
        writer.start()
        _log.info("ledger: recording every call in %s", where)
        return cls(writer, settings)

    def record(self, call: CallRecord, status: str, elapsed_s: float) -> None:
        """The call path's one step: the call's row onto the writer's queue. Runs as the call is
        settled: a bug here is logged, never turned into the call's outcome."""
        try:
            self._writer.submit(call_row(call, status, elapsed_s))
        except Exception:
            _log.exception("ledger: the record of call %s was not made", call.call_id)

    async def aclose(self) -> None:
        """Flush what is queued within ledger.flush_timeout_s; then the rest is spooled."""
        await asyncio.to_thread(self._writer.stop, self._settings.flush_timeout_s)
