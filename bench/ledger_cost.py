"""What the spend ledger costs the call path (issue 22 item 3): the gateway with the ledger on (its
SQLite file, the default) and off, in one run, interleaved round by round so both see the same
machine: saturated unary calls per second, p50/p99, and the server's CPU milliseconds per call;
then p50/p99 at concurrency 1, where a call waits for any other work on the core (the writer
thread's batches: every `flush_interval_s` at these rates). After each ledger-on round the gateway
is stopped (SIGTERM: the queue is flushed) and its rows are counted against the calls ghz saw
answered, so the figure is for a ledger that recorded every call.

The SQLite file starts with `--prefill` rows (default 500,000, ids made as the gateway makes them,
over the past days): a ledger that has run a while, whose indexes are larger than the cache, costs
the writer more per row than an empty one.

    python -m bench.ledger_cost [--rounds N] [--seconds S] [--prefill ROWS] [--write]

Placement as bench/run.py: the gateway alone on core 1 (taskset), ghz on core 0. The gateway
serves the `echo` model (no upstream), with auth, metrics, tracing and the access log off: nothing
but the ledger differs, and its share of the call is as large as it can be. `--write` merges the
figures into bench/results.json and rewrites bench/RESULTS.md from it (its own section).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from bench.run import (
    OUT,
    ROOT,
    SATURATED_CONCURRENCY,
    Target,
    build_protoset,
    free_port,
    gateway_argv,
    ghz,
    measuring,
    saturated,
    start,
    stop,
    wait_ready,
    write_report,
)
from bench.same_run import new_run_id

RESULTS_JSON = ROOT / "bench" / "results.json"


def _config(folder: Path, ledger: bool) -> Path:
    config = {
        "server": {"drain_s": 0, "grace_s": 1, "http_listen": None, "metrics_listen": None},
        "auth": {"enabled": False},
        "observability": {"access_log": False, "tracing": {"sample_ratio": 0.0}},
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [{"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]}],
        "ledger": {"enabled": ledger},
    }
    path = folder / ("ledger-on.yaml" if ledger else "ledger-off.yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rows(database: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM ledger_calls")).scalar_one())
    finally:
        engine.dispose()


def _prefill(database: Path, rows: int) -> None:
    """`rows` ledger rows in the SQLite file, the schema made as the gateway makes it, each row as
    the gateway makes it (`call_row` of a call record, its id from `new_call_id`), spread over the
    past week."""
    from llmgateway.config import LedgerSettings  # noqa: PLC0415
    from llmgateway.ledger.database import create_engine  # noqa: PLC0415
    from llmgateway.ledger.rows import call_row  # noqa: PLC0415
    from llmgateway.ledger.schema import calls  # noqa: PLC0415
    from llmgateway.ledger.schema_version import ensure_current  # noqa: PLC0415
    from llmgateway.observability.call_record import CallRecord, new_call_id  # noqa: PLC0415
    from llmgateway.observability.metrics import GatewayMetrics  # noqa: PLC0415
    from llmgateway.v1 import chat_pb2  # noqa: PLC0415

    metrics = GatewayMetrics()
    usage = chat_pb2.Usage(input_tokens=12, output_tokens=30, total_tokens=42, cost_usd=0.0001)
    engine = create_engine(LedgerSettings.model_validate({"url": f"sqlite:///{database}"}))
    try:
        ensure_current(engine, migrate=True)
        week_ms, now_ms = 7 * 86_400_000, int(time.time() * 1000)
        with engine.begin() as connection:
            for first in range(0, rows, 10_000):
                batch = []
                for number in range(first, min(rows, first + 10_000)):
                    at_ms = now_ms - week_ms + number * week_ms // rows
                    call = CallRecord(
                        method="Chat",
                        metrics=metrics,
                        started_at=at_ms / 1000,
                        call_id=new_call_id(at_ms),
                        tenant=f"tenant{number % 7}",
                        key_id=f"key{number % 50}",
                        labels={"team": f"t{number % 5}"},
                        requested_model="echo",
                        model="echo",
                        provider="echo",
                        deployment="echo",
                        attempts=1,
                        usage=usage,
                    )
                    batch.append(call_row(call, "OK", 0.0015))
                connection.execute(calls.insert(), batch)
    finally:
        engine.dispose()


def _round(folder: Path, ledger: bool, seconds: float) -> dict[str, Any]:
    """A saturated run, then one at concurrency 1 (its p50 and p99 as `c1_*`)."""
    config = _config(folder, ledger)
    database = folder / "llmgateway.db"
    before = _rows(database) if ledger and database.exists() else 0
    port = free_port()
    argv = gateway_argv(config, port)
    target = Target("ledger-on" if ledger else "ledger-off", argv, port, "echo", "echo")
    target.process = start(argv, OUT / f"{target.name}.log")
    try:
        wait_ready(target, timeout=90)
        run = saturated(target, target.process.pid, "Chat", seconds)
        one = ghz(target, "Chat", concurrency=1, seconds=seconds)
        run |= {"c1_p50_ms": one["p50_ms"], "c1_p99_ms": one["p99_ms"], "c1_calls": one["calls"]}
    finally:
        stop(target.process)
    if ledger:
        # Every call answered has its row (ghz's cut calls may have been recorded too).
        run["rows"] = _rows(database) - before - 1  # minus wait_ready's call
        run["calls_answered"] = run["ok"] + one["ok"]
    return run


def _record_cost_us(folder: Path, records: int = 50_000) -> float:
    """The call path's own share, in this process: microseconds of CPU per `Ledger.record` (the
    row made from a call's record, queued for the writer thread), the best of 5 runs."""
    from llmgateway.config import LedgerSettings  # noqa: PLC0415
    from llmgateway.ledger.database import create_engine  # noqa: PLC0415
    from llmgateway.ledger.recorder import Ledger  # noqa: PLC0415
    from llmgateway.ledger.schema_version import ensure_current  # noqa: PLC0415
    from llmgateway.ledger.writer import LedgerWriter  # noqa: PLC0415
    from llmgateway.observability.call_record import CallRecord, new_call_id  # noqa: PLC0415
    from llmgateway.observability.metrics import GatewayMetrics  # noqa: PLC0415
    from llmgateway.v1 import chat_pb2  # noqa: PLC0415

    settings = LedgerSettings.model_validate(
        {"url": f"sqlite:///{folder / 'micro.db'}", "queue_bound": 10 * records}
    )
    metrics = GatewayMetrics()
    engine = create_engine(settings)
    ensure_current(engine, migrate=True)
    writer = LedgerWriter(engine, settings, metrics, schema_checked=True)
    writer.start()
    ledger = Ledger(writer, settings)
    call = CallRecord(method="Chat", metrics=metrics, tenant="bench", key_id="k1", labels={"team": "a"})
    call.usage = chat_pb2.Usage(input_tokens=12, output_tokens=30, total_tokens=42, cost_usd=0.0001)
    best = float("inf")
    for _ in range(5):
        started = time.thread_time()
        for _ in range(records):
            call.call_id = new_call_id()
            ledger.record(call, "OK", 0.01)
        best = min(best, time.thread_time() - started)
    writer.stop(60)
    return best / records * 1e6


def _table(rounds: list[dict[str, Any]], record_us: float, prefill: int) -> str:
    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in rounds if r["name"] == name))

    lines = [
        f"Unary `Chat` on the `echo` model, ghz at concurrency {SATURATED_CONCURRENCY} and then 1, "
        f"{len(rounds) // 2} interleaved rounds each (medians); the gateway alone on core 1; the "
        f"SQLite ledger started with {prefill:,} rows.",
        "",
        "| ledger | calls/s | p50 ms | p99 ms | CPU ms per call | concurrency 1: p50 ms | p99 ms "
        "| rows written / calls answered |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("ledger-off", "ledger-on"):
        own = [r for r in rounds if r["name"] == name]
        recorded = (
            f"{sum(r['rows'] for r in own)} / {sum(r['calls_answered'] for r in own)}"
            if name == "ledger-on"
            else "-"
        )
        lines.append(
            f"| {name.removeprefix('ledger-')} | {median(name, 'rps'):.0f} | {median(name, 'p50_ms'):.2f} | "
            f"{median(name, 'p99_ms'):.2f} | {median(name, 'cpu_ms_per_call'):.3f} | "
            f"{median(name, 'c1_p50_ms'):.2f} | {median(name, 'c1_p99_ms'):.2f} | {recorded} |"
        )
    lines += [
        "",
        f"The call path's own share, measured in one process: {record_us:.2f} µs of CPU (this thread's) per "
        "`Ledger.record` (the row made and queued; the writer thread's inserts run beside it, best of 5 "
        "runs of 50,000, making the call id included).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_cost")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--prefill", type=int, default=500_000, help="ledger rows before the rounds")
    parser.add_argument("--write", action="store_true", help="merge into bench/results.json and RESULTS.md")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    build_protoset()
    rounds: list[dict[str, Any]] = []
    stamped: dict[str, Any] = {}  # this run's id, date, commit and load (bench/same_run.py)
    with (
        measuring(stamped, "ledger_cost", new_run_id()),
        tempfile.TemporaryDirectory(prefix="llmgw-ledger-bench-") as folder,
    ):
        _prefill(Path(folder) / "llmgateway.db", args.prefill)
        for _ in range(args.rounds):
            for ledger in (False, True):
                run = _round(Path(folder), ledger, args.seconds)
                run["name"] = "ledger-on" if ledger else "ledger-off"
                rounds.append(run)
                print(json.dumps({k: v for k, v in run.items() if k != "cores_busy"}))
        record_us = _record_cost_us(Path(folder))
    table = _table(rounds, record_us, args.prefill)
    print(table)
    if args.write:
        results = json.loads(RESULTS_JSON.read_text())
        results["ledger_cost"] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load": " ".join(f"{x:.2f}" for x in load),
            "table": table,
            "record_us": record_us,
            "rounds": rounds,
        }
        results.setdefault("runs", {})["ledger_cost"] = stamped["runs"]["ledger_cost"]
        RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
        write_report(ROOT / "bench", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
