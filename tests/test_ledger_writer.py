"""The ledger writer on its own: the call path's `submit` never waits on a database that holds
its writes (records beyond the queue's bound go to the spool, all reach the database once it lets
go), a record the database refuses for its content is set aside without holding the others back,
and the spool survives a torn line and a process that died mid-replay."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from llmgateway.config import LedgerSettings
from llmgateway.config.ledger import sqlite_url
from llmgateway.ledger.database import create_engine
from llmgateway.ledger.recorder import Ledger
from llmgateway.ledger.schema_version import ensure_current
from llmgateway.ledger.spool import SpoolAppender, SpoolFolder
from llmgateway.ledger.writer import LedgerWriter
from llmgateway.observability.call_record import CallRecord, new_call_id
from llmgateway.observability.metrics import GatewayMetrics
from tests.ledger_rows import ledger_rows, made_row

pytest_plugins = ["tests.postgres_fixtures"]


def ledger_settings(**fields: Any) -> LedgerSettings:
    return LedgerSettings.model_validate(fields)


def counted(metrics: GatewayMetrics, outcome: str) -> float:
    return metrics.registry.get_sample_value("llmgateway_ledger_records_total", {"outcome": outcome}) or 0.0


def writer_for(settings: LedgerSettings, metrics: GatewayMetrics) -> LedgerWriter:
    engine = create_engine(settings)
    ensure_current(engine, migrate=True)
    writer = LedgerWriter(engine, settings, metrics, schema_checked=True)
    writer.start()
    return writer


def test_submit_never_waits_on_a_database_that_holds_its_writes(tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    settings = ledger_settings(
        url=sqlite_url(database), queue_bound=100, batch_size=20, flush_interval_s=0.01, retry_interval_s=0.1
    )
    metrics = GatewayMetrics()
    writer = writer_for(settings, metrics)
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # every write now waits (busy timeout: statement_timeout_s)
    slowest = 0.0
    rows = [made_row() for _ in range(1000)]
    for item in rows:
        started = time.perf_counter()
        writer.submit(item)
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.0005)
    assert slowest < 0.05, f"submit waited {slowest * 1000:.1f} ms"
    assert counted(metrics, "spooled") >= 1000 - 100 - 20, "beyond the bound, to the spool"
    blocker.execute("ROLLBACK")
    blocker.close()
    deadline = time.monotonic() + 30
    while len(ledger_rows(sqlite_url(database))) < len(rows) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.stop(10) == 0
    found = [r["call_id"] for r in ledger_rows(sqlite_url(database))]
    assert sorted(found) == sorted(r["call_id"] for r in rows), "every record once"


def test_a_record_the_database_refuses_is_set_aside(postgres_url: str, tmp_path: Path) -> None:
    settings = ledger_settings(url=postgres_url, spool_dir=tmp_path / "spool", flush_interval_s=0.01)
    metrics = GatewayMetrics()
    writer = writer_for(settings, metrics)
    good = [made_row() for _ in range(5)]
    bad = made_row(attempts="not a number")
    for item in [*good[:2], bad, *good[2:]]:
        writer.submit(item)
    assert writer.stop(10) == 0
    assert sorted(r["call_id"] for r in ledger_rows(postgres_url)) == sorted(r["call_id"] for r in good)
    assert counted(metrics, "rejected") == 1
    kept = list((tmp_path / "spool").glob("rejected-*.jsonl"))
    assert len(kept) == 1 and bad["call_id"] in kept[0].read_text()


def test_the_spool_skips_a_torn_line_and_adopts_a_dead_process_files(tmp_path: Path) -> None:
    appender = SpoolAppender(tmp_path, "writer", sync=False)
    records = [made_row() for _ in range(3)]
    appender.append(records)
    appender.seal()
    sealed = next(tmp_path.glob("ready-*.jsonl"))
    with sealed.open("ab") as torn:
        torn.write(b'{"call_id": "half')  # the process died in the middle of an append
    # A file claimed by a process that is gone (a pid that cannot be running).
    dead = tmp_path / "replaying-99999999-12-writer-0.jsonl"
    dead.write_bytes(b"")
    folder = SpoolFolder(tmp_path)
    claimed = folder.claim()
    assert len(claimed) == 2
    assert all(path.name.startswith(f"replaying-{os.getpid()}-") for path in claimed)
    read = [r for path in claimed for rows in SpoolFolder.read(path, 2) for r in rows]
    assert [r["call_id"] for r in read] == [r["call_id"] for r in records]


def test_spooled_rows_of_an_earlier_build_are_replayed_without_its_later_columns(tmp_path: Path) -> None:
    """The spool outlives upgrades: rows an earlier build spooled lack the columns added since
    (cache_write_1h_input_tokens, revision 0004), and are replayed with them empty, also beside
    rows of this build in one batch."""
    database, spool = tmp_path / "ledger.db", tmp_path / "spool"
    now = made_row(cache_write_input_tokens=2000, cache_write_1h_input_tokens=1500)
    earlier = made_row(cache_write_input_tokens=700)
    del earlier["cache_write_1h_input_tokens"]
    appender = SpoolAppender(spool, "overflow", sync=False)
    appender.append([now, earlier])
    appender.seal()
    settings = ledger_settings(
        url=sqlite_url(database), spool_dir=spool, flush_interval_s=0.01, retry_interval_s=0.05
    )
    metrics = GatewayMetrics()
    writer = writer_for(settings, metrics)
    deadline = time.monotonic() + 20
    while len(ledger_rows(sqlite_url(database))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.stop(10) == 0
    found = {row["call_id"]: row for row in ledger_rows(sqlite_url(database))}
    assert found[now["call_id"]]["cache_write_1h_input_tokens"] == 1500
    assert found[earlier["call_id"]]["cache_write_input_tokens"] == 700
    assert found[earlier["call_id"]]["cache_write_1h_input_tokens"] is None
    assert not list(spool.glob("rejected-*.jsonl"))


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "postgresql+psycopg://u:p@h/db"])
def test_a_server_or_memory_database_needs_a_spool_dir(url: str) -> None:
    with pytest.raises(ValueError, match="spool_dir"):
        ledger_settings(url=url)


def test_a_spool_that_cannot_be_written_loses_records_loudly_but_never_fails_the_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_folder = tmp_path / "spool"
    not_a_folder.write_text("a file where the spool folder should be")
    settings = ledger_settings(url=sqlite_url(tmp_path / "ledger.db"), spool_dir=not_a_folder, queue_bound=1)
    metrics = GatewayMetrics()
    writer = LedgerWriter(create_engine(settings), settings, metrics, schema_checked=True)  # not started
    for _ in range(3):
        writer.submit(made_row())
    assert counted(metrics, "lost") == 2
    assert [r.levelname for r in caplog.records if "lost" in r.getMessage()] == ["ERROR", "ERROR"]


def test_a_record_that_cannot_be_made_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ledger_settings(url=sqlite_url(tmp_path / "ledger.db"))
    metrics = GatewayMetrics()
    ledger = Ledger(LedgerWriter(create_engine(settings), settings, metrics, schema_checked=True), settings)
    broken = CallRecord(method="Chat", metrics=metrics, labels={1: 2})  # type: ignore[dict-item]
    ledger.record(broken, "OK", 0.01)
    assert any(r.levelname == "ERROR" and broken.call_id in r.getMessage() for r in caplog.records)


def test_call_ids_are_unique_and_ordered_by_time() -> None:
    """The ledger's key grows at its right edge (new_call_id's docstring says why): ids made a
    millisecond or more apart sort in the order they were made, and many made in one millisecond
    still differ."""
    spaced = []
    for _ in range(6):
        spaced.append(CallRecord(method="Chat", metrics=GatewayMetrics()).call_id)
        time.sleep(0.002)
    assert spaced == sorted(spaced)
    burst = [new_call_id() for _ in range(50_000)]
    assert len(set(burst)) == len(burst)
    assert all(len(call_id) == 32 and int(call_id, 16) >= 0 for call_id in burst[:100])
