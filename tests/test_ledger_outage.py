"""The ledger loses no call: PostgreSQL stopped in the middle of a load and started again (records
spooled, then replayed: every call exactly once), and a gateway process sent SIGTERM in the middle
of a load (its queue flushed before it exits; with the database down, spooled and replayed by the
next start). The call path never waits on the database, and its outage is a WARNING, not an ERROR;
the database password appears in no log line."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest

from llmgateway.app import Gateway
from llmgateway.v1 import chat_pb2_grpc
from tests.conftest import ECHO_CONFIG, StartGateway, chat_request, stream_request, user
from tests.ledger_rows import ledger_rows, rows_when_settled
from tests.postgres_server import PASSWORD, PostgresServer

pytest_plugins = ["tests.postgres_fixtures"]
# Each test holds a load of its own (8 callers, database and gateway processes stopped and started):
# run alone, after the parallel part of the suite, with time for a loaded machine.
pytestmark = [pytest.mark.serial, pytest.mark.timeout(300)]

CONCURRENCY = 8


async def load(address: str, prefix: str, sent: list[str], ok: set[str], stop: asyncio.Event) -> None:
    """Unary and streaming calls, CONCURRENCY at a time, until `stop`; each call's request id in
    `sent` before it starts, and in `ok` once it ended OK."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = chat_pb2_grpc.ChatServiceStub(channel)

        async def caller(index: int) -> None:
            number = 0
            while not stop.is_set():
                request_id = f"{prefix}-{index}-{number}"
                number += 1
                sent.append(request_id)
                try:
                    if number % 2:
                        await stub.Chat(chat_request("echo", user("hi"), request_id=request_id), timeout=10)
                    else:
                        call = stub.ChatStream(
                            stream_request("echo", user("a few words"), request_id=request_id), timeout=10
                        )
                        _ = [message async for message in call]
                except grpc.aio.AioRpcError:
                    continue
                ok.add(request_id)

        await asyncio.gather(*(caller(index) for index in range(CONCURRENCY)))


def ledger_config(url: str, spool: Path, **settings: Any) -> dict[str, Any]:
    return {
        **ECHO_CONFIG,
        "ledger": {
            "url": url,
            "spool_dir": str(spool),
            "migrate_on_start": True,
            "flush_interval_s": 0.05,
            "batch_size": 50,
            "retry_interval_s": 0.2,
            "statement_timeout_s": 2,
            **settings,
        },
    }


def counted(gateway: Gateway, outcome: str) -> float:
    value = gateway.metrics.registry.get_sample_value("llmgateway_ledger_records_total", {"outcome": outcome})
    return value or 0.0


async def test_postgres_stopped_mid_load_then_restarted_loses_no_call(
    private_postgres: PostgresServer,
    start_gateway: StartGateway,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    url = private_postgres.create_database("ledger")
    gateway = await start_gateway(ledger_config(url, tmp_path / "spool"))
    sent: list[str] = []
    ok: set[str] = set()
    stop = asyncio.Event()
    running = asyncio.create_task(load(f"127.0.0.1:{gateway.port}", "pg", sent, ok, stop))

    async def calls_made(more: int) -> None:
        target = len(ok) + more
        async with asyncio.timeout(60):
            while len(ok) < target:
                await asyncio.sleep(0.02)

    await calls_made(100)
    await asyncio.to_thread(private_postgres.stop)
    before_outage = len(ok)
    await calls_made(200)  # all of these while the database is down
    assert gateway.metrics.registry.get_sample_value("llmgateway_ledger_up") == 0
    await asyncio.to_thread(private_postgres.start)
    await calls_made(100)
    stop.set()
    await running
    assert len(ok) - before_outage >= 300

    rows = await rows_when_settled(url, len(sent), timeout_s=60)
    request_ids = [row["request_id"] for row in rows]
    assert len(request_ids) == len(set(request_ids)), "a call recorded twice"
    assert ok <= set(request_ids), f"{len(ok - set(request_ids))} calls lost"
    assert set(request_ids) <= set(sent)
    assert counted(gateway, "spooled") > 0 and counted(gateway, "replayed") > 0
    async with asyncio.timeout(10):  # a file is deleted just after its last records are in
        while list((tmp_path / "spool").glob("*.jsonl")):
            await asyncio.sleep(0.05)
    ledger_lines = [r for r in caplog.records if r.name.startswith("llmgateway.ledger")]
    assert any(r.levelno == logging.WARNING and "unavailable" in r.getMessage() for r in ledger_lines)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert PASSWORD not in caplog.text


class GatewayProcess:
    """`llmgateway serve` as a child process (one worker), and the gRPC address it logged."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llmgateway", "serve", "--config", str(config), "--workers", "1"],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.log: list[str] = []
        self.address = ""
        ready = threading.Event()

        def read_log() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.log.append(line)
                match = re.search(r"listening on (\S+:\d+)", line)
                if match:
                    self.address = match.group(1)
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read_log, daemon=True)
        self._reader.start()
        # A loaded CI machine can take many seconds to import and start.
        assert ready.wait(90), "the gateway did not start"
        assert self.address, "".join(self.log)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=5)
        return code


def write_config(folder: Path, ledger: dict[str, Any]) -> Path:
    config = folder / "gateway.yaml"
    settings = ", ".join(
        f"{name}: {value!r}" if isinstance(value, str) else f"{name}: {value}"
        for name, value in ledger.items()
    )
    config.write_text(
        "server: {listen: '127.0.0.1:0', http_listen: null, metrics_listen: null, drain_s: 0.2, grace_s: 2}\n"
        "auth: {enabled: false}\n"
        "providers: [{name: echo, type: echo}]\n"
        "models: [{name: echo, deployments: [{provider: echo, model: echo}]}]\n"
        f"ledger: {{{settings}}}\n"
    )
    return config


async def sigterm_during_load(config: Path) -> tuple[list[str], set[str], GatewayProcess]:
    """A gateway process under load, SIGTERM sent while the load goes on; the calls sent, those
    that ended OK, and the (exited) process."""
    gateway = GatewayProcess(config)
    sent: list[str] = []
    ok: set[str] = set()
    stop = asyncio.Event()
    running = asyncio.create_task(load(gateway.address, "term", sent, ok, stop))
    async with asyncio.timeout(60):
        while len(ok) < 200:
            await asyncio.sleep(0.02)
    code = await asyncio.to_thread(gateway.terminate)
    stop.set()
    await running
    assert code == 0, "".join(gateway.log)
    return sent, ok, gateway


async def test_sigterm_during_load_loses_no_call(tmp_path: Path) -> None:
    """The writer flushes only every 30 s here: what the calls wrote is still queued at SIGTERM,
    and the shutdown puts it into the database before the process exits."""
    config = write_config(tmp_path, {"flush_interval_s": 30, "batch_size": 10000})
    sent, ok, gateway = await sigterm_during_load(config)
    rows = ledger_rows(f"sqlite:///{tmp_path / 'llmgateway.db'}")
    request_ids = [row["request_id"] for row in rows]
    assert len(request_ids) == len(set(request_ids))
    assert ok <= set(request_ids), f"{len(ok - set(request_ids))} of {len(ok)} calls lost"
    assert set(request_ids) <= set(sent)
    assert not [line for line in gateway.log if '"level":"ERROR"' in line]


async def test_sigterm_with_the_database_down_spools_and_the_next_start_replays(
    private_postgres: PostgresServer, tmp_path: Path
) -> None:
    url = private_postgres.create_database("ledger")
    spool = tmp_path / "spool"
    config = write_config(
        tmp_path,
        {
            "url": url,
            "spool_dir": str(spool),
            "migrate_on_start": True,
            "retry_interval_s": 0.2,
            "statement_timeout_s": 2,
        },
    )
    first = GatewayProcess(config)  # migrates while the database is up
    first.terminate()
    await asyncio.to_thread(private_postgres.stop)
    _, ok, gateway = await sigterm_during_load(config)
    assert list(spool.glob("ready-*.jsonl")), "spooled, sealed for the next process"
    assert not [line for line in gateway.log if '"level":"ERROR"' in line]
    assert not [line for line in gateway.log if PASSWORD in line]
    await asyncio.to_thread(private_postgres.start)
    replayer = GatewayProcess(config)
    try:
        rows = await rows_when_settled(url, len(ok), timeout_s=60)
    finally:
        replayer.terminate()
    request_ids = [row["request_id"] for row in rows]
    assert len(request_ids) == len(set(request_ids))
    assert ok <= set(request_ids), f"{len(ok - set(request_ids))} of {len(ok)} calls lost"
