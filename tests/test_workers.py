"""`llmgateway serve --workers N`: N processes on one port, connections spread over them, one
/metrics endpoint aggregating them all, graceful stop of every worker."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import grpc
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from llmgateway.auth.keys import new_key
from llmgateway.config.ledger import sqlite_url
from llmgateway.v1 import chat_pb2_grpc
from tests.conftest import chat_request, user
from tests.ledger_rows import rows_when_settled
from tests.reliability.soak import worker_pids
from tests.test_serve_subprocess import ServerProcess
from tests.upstreams.openai import OpenAISimulator

CALLS = 30
STATUS_CALLS = 12


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def alive(pid: int) -> bool:
    """Whether a process of this pid runs (a worker's pid, not yet reused by another program)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def served_by(log: list[str]) -> set[int]:
    """The pids of the workers whose access log has a call."""
    return {json.loads(line)["pid"] for line in list(log) if '"llmgateway.access"' in line}


def requests_total(metrics: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "llmgateway_requests_total" and sample.labels.get("code") == "OK":
                return sample.value
    return 0.0


async def test_workers_share_the_port_and_metrics_aggregate(tmp_path: Path) -> None:
    metrics_port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {
                    "listen": "127.0.0.1:0",
                    "http_listen": "127.0.0.1:0",
                    "metrics_listen": f"127.0.0.1:{metrics_port}",
                    "drain_s": 0.1,
                },
                "auth": {"enabled": False},
                "providers": [{"name": "echo", "type": "echo"}],
                "models": [{"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]}],
            }
        )
    )
    server = ServerProcess(config, args=("--workers", "2"), ready_lines=2)
    try:
        # One connection per call: the kernel spreads connections, not calls, over the workers.
        for index in range(CALLS):
            async with grpc.aio.insecure_channel(server.address) as channel:
                await chat_pb2_grpc.ChatServiceStub(channel).Chat(
                    chat_request("echo", user(f"call {index}")), timeout=5
                )
        async with httpx.AsyncClient() as http:
            async with asyncio.timeout(5):
                while (
                    requests_total((await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text) < CALLS
                ):
                    await asyncio.sleep(0.05)
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert requests_total(metrics) == CALLS, "one endpoint counts every worker's calls"
    finally:
        assert server.stop() == 0
    access = [json.loads(line) for line in server.log if '"llmgateway.access"' in line]
    by_worker = Counter(entry["pid"] for entry in access)
    assert len(by_worker) == 2 and all(count > 0 for count in by_worker.values()), by_worker
    assert sum(by_worker.values()) == CALLS
    assert sum("stopped" in line for line in server.log) == 2, "both workers drained and stopped"


async def test_workers_shut_down_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the supervisor (an OOM kill, say) left its workers serving unsupervised, holding
    their share of the port and renewing concurrency leases: now each notices it was orphaned and
    shuts down as on SIGTERM (drains, stops, exits)."""
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {
                    "listen": "127.0.0.1:0",
                    "http_listen": "127.0.0.1:0",
                    "metrics_listen": None,
                    "drain_s": 0,
                    "grace_s": 1,
                },
                "auth": {"enabled": False},
                "providers": [{"name": "echo", "type": "echo"}],
                "models": [{"name": "echo", "deployments": [{"provider": "echo", "model": "echo"}]}],
            }
        )
    )
    server = ServerProcess(config, args=("--workers", "2"), ready_lines=2)
    workers = worker_pids(server.process.pid)
    assert len(workers) == 2
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(5)
    async with asyncio.timeout(15):
        while any(alive(pid) for pid in workers):
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.2)  # the log reader catches up
    assert sum("is gone: shutting down" in line for line in server.log) == 2
    assert sum('"stopped"' in line for line in server.log) == 2


@pytest.mark.timeout(180)  # two worker processes start (imports, tokenizers): slow on a busy machine
async def test_the_supervisor_serves_the_status_page_for_every_worker(tmp_path: Path) -> None:
    """With several workers the supervisor serves /status beside /metrics: the attempts it shows
    are every worker's (as /metrics aggregates them), the spend the ledger's that they share."""
    admin, admin_id, admin_hash = new_key()
    metrics_port = free_port()
    ledger = tmp_path / "ledger.db"
    with OpenAISimulator(api_key=None) as sim:
        config = tmp_path / "gateway.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "server": {
                        "listen": "127.0.0.1:0",
                        "http_listen": None,
                        "metrics_listen": f"127.0.0.1:{metrics_port}",
                        "drain_s": 0.1,
                        "status_page": {"enabled": True},
                    },
                    "auth": {"enabled": False},
                    "admin": {"keys": [{"id": admin_id, "hash": admin_hash}]},
                    "ledger": {"url": sqlite_url(ledger), "flush_interval_s": 0.05},
                    "providers": [{"name": "sim", "type": "openai", "base_url": sim.base_url}],
                    "models": [
                        {
                            "name": "m",
                            "deployments": [
                                {
                                    "name": "sim-dep",
                                    "provider": "sim",
                                    "model": "gpt-4o-mini",
                                    "input_price_per_mtok": 1000.0,
                                    "output_price_per_mtok": 1000.0,
                                }
                            ],
                        }
                    ],
                }
            )
        )
        server = ServerProcess(
            config,
            args=("--workers", "2"),
            ready_lines=2,
        )
        try:
            # One connection per call until both workers have served some (the kernel spreads
            # connections by a hash, so how many that takes varies), within a bound.
            calls = 0
            while calls < STATUS_CALLS or len(served_by(server.log)) < 2:
                assert calls < 100, "the calls never reached both workers"
                async with grpc.aio.insecure_channel(server.address) as channel:
                    await chat_pb2_grpc.ChatServiceStub(channel).Chat(
                        chat_request("m", user(f"call {calls}")), timeout=5
                    )
                calls += 1
                await asyncio.sleep(0.01)  # the access log line reaches the reader
            rows = await rows_when_settled(sqlite_url(ledger), calls)
            url = f"http://127.0.0.1:{metrics_port}"
            async with httpx.AsyncClient() as http:
                refused = await http.get(f"{url}/status.json")
                assert refused.status_code == 401
                page = await http.get(f"{url}/status", auth=("admin", admin))
                assert page.status_code == 200 and 'data-deployment="sim-dep"' in page.text
                figures = (
                    await http.get(f"{url}/status.json", headers={"Authorization": f"Bearer {admin}"})
                ).json()
                metrics = (await http.get(f"{url}/metrics")).text
        finally:
            assert server.stop() == 0
    attempts = sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "llmgateway_upstream_attempts_total" and sample.labels["deployment"] == "sim-dep"
    )
    (deployment,) = figures["deployments"]
    assert deployment["attempts"] == attempts == calls
    assert deployment["calls_last_hour"] == calls == len(rows)
    spend = sum(row["cost_nano_usd"] for row in rows)
    assert spend > 0
    assert figures["tenants"] == [
        {
            "tenant": "",
            "nano_usd_per_hour": figures["tenants"][0]["nano_usd_per_hour"],
            "total_nano_usd": spend,
        }
    ]
    assert len(served_by(server.log)) == 2  # so the figures are not one worker's


def test_the_supervisor_does_not_load_the_server() -> None:
    """The command line imports the server (grpc.aio servicers, providers, aiohttp, OpenTelemetry)
    and the migration tool only where a process serves or migrates: a supervisor of workers, and
    `keys`, `version` and `check-config`, hold none of it (cli.py says why)."""
    heavy = ("aiohttp", "alembic", "sqlalchemy", "opentelemetry", "llmgateway.app")
    check = f"import sys, llmgateway.cli\nprint([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", check], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
