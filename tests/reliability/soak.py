"""The soak: mixed unary and streaming traffic, about 5% of it at a faulty upstream, through a real
`llmgateway serve --workers 2` with authentication on and Redis-backed limits, for a set time.

Used by test_soak.py (60 s in `make test`, `make soak` for 10 minutes). The report counts requests
and outcomes by (code, reason), and samples RSS and open file descriptors of every worker process
after a warm-up and at the end. Each class of traffic has its own expected outcomes; anything else
is "unexpected" and fails the soak.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.rpc import error_details_pb2, status_pb2

from llmgateway.auth.keys import new_key
from llmgateway.v1 import chat_pb2_grpc
from tests.conftest import chat_request, stream_request, user
from tests.reliability.leaks import open_fds, rss_bytes, trend_per_second
from tests.test_serve_subprocess import ServerProcess
from tests.upstreams.base import Behaviour
from tests.upstreams.openai import OpenAISimulator

PROVIDER_KEY = "sk-soak-provider-secret-0123456789abcdef"
MAIN_KEY = new_key()  # (key, id, hash): generous limits, must only ever see OK
TIGHT_KEY = new_key()  # a low RPM, so the Redis buckets refuse some calls
TIGHT_RPM = 20
CONCURRENCY = 16
FAULT_SHARE = 0.05
TIGHT_SHARE = 0.05
WORKERS = 2

# What each class of traffic may end with.
EXPECTED: dict[str, set[tuple[str, str]]] = {
    "good": {("OK", "")},
    "tight": {("OK", ""), ("RESOURCE_EXHAUSTED", "RATE_LIMITED")},
    "faulty": {
        ("OK", ""),
        ("UNAVAILABLE", "UPSTREAM_UNAVAILABLE"),
        ("RESOURCE_EXHAUSTED", "UPSTREAM_RATE_LIMITED"),
        ("UNAVAILABLE", "UPSTREAM_STALL"),
        ("UNAVAILABLE", "UPSTREAM_STREAM_CUT"),
        ("UNAVAILABLE", "UPSTREAM_CONNECTION_LOST"),
        ("UNAVAILABLE", "UPSTREAM_MALFORMED_RESPONSE"),
        ("UNAVAILABLE", "UPSTREAM_TIMEOUT"),
        ("UNAVAILABLE", "STREAM_INTERRUPTED"),
        ("UNAVAILABLE", "BREAKER_OPEN"),
    },
}
# Each worker's RSS is sampled every RSS_SAMPLE_S through the measured run, and its trend
# (leaks.trend_per_second: robust to the steps an allocator takes), divided by the soak's rate of
# calls, may not exceed this many bytes per call. Per call, not per minute: a young process still
# grows a little while its arenas and caches fill (measured: 40-150 bytes per call in the first
# minute, flat over ten), and a leak grows with the calls served. A worker leaking 1 KB per call
# it serves, with half of the calls, reads as 512 bytes per call of the soak.
RSS_SAMPLE_S = 1.0
RSS_TREND_LIMIT_PER_CALL = 400
# Descriptors: the pools to the two upstreams and Redis may open a few more connections under a burst.
FD_GROWTH_LIMIT = 8


class FaultySimulator(OpenAISimulator):
    """An upstream where every generation request meets one of the faults, chosen at random."""

    FAULTS = (
        Behaviour(status=500),
        Behaviour(status=503, retry_after="1"),
        Behaviour(status=429, retry_after="1"),
        Behaviour(stall_after=2),
        Behaviour(cut_after=2),
        Behaviour(reset_after=1),
        Behaviour(raw_body=b'{"choices": ['),
        Behaviour(),  # sometimes it works
    )

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key=api_key)
        self._rng = random.Random(7)

    def next_behaviour(self) -> Behaviour:
        return self._rng.choice(self.FAULTS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def soak_config(good_url: str, faulty_url: str, redis_url: str) -> dict[str, Any]:
    timeouts = {"connect_s": 1, "first_token_s": 0.5, "between_tokens_s": 0.5, "total_s": 3}
    keys = [
        {"id": MAIN_KEY[1], "hash": MAIN_KEY[2], "tenant": "main", "policy": {"rpm": 1_000_000}},
        {"id": TIGHT_KEY[1], "hash": TIGHT_KEY[2], "tenant": "tight", "policy": {"rpm": TIGHT_RPM}},
    ]
    return {
        "server": {"listen": "127.0.0.1:0", "http_listen": None, "metrics_listen": None, "drain_s": 0.2, "grace_s": 3},
        "observability": {"log_level": "INFO", "access_log": True},
        "auth": {"enabled": True, "keys": keys},
        "store": {"backend": "redis", "redis_url": redis_url, "fail_open": False},
        "providers": [
            {"name": "good", "type": "openai", "base_url": good_url, "api_key": PROVIDER_KEY, "timeouts": timeouts},
            {"name": "faulty", "type": "openai", "base_url": faulty_url, "api_key": PROVIDER_KEY, "timeouts": timeouts},
        ],
        "models": [
            {"name": "good", "deployments": [{"provider": "good", "model": "gpt-4o-mini"}]},
            {"name": "faulty", "deployments": [{"provider": "faulty", "model": "gpt-4o-mini"}]},
        ],
        "routing": {
            "retry": {"max_retries": 1, "base_delay_s": 0.01, "max_delay_s": 0.05},
            "breaker": {"consecutive_failures": 5, "open_s": 0.5},
        },
    }  # fmt: skip


@dataclass
class ProcessSample:
    pid: int
    rss: int
    fds: int


@dataclass
class SoakReport:
    seconds: float = 0.0
    requests: int = 0
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (class, code, reason)
    unexpected: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    idle: list[ProcessSample] = field(default_factory=list)  # before any traffic
    start: list[ProcessSample] = field(default_factory=list)
    end: list[ProcessSample] = field(default_factory=list)
    # (seconds into the measured run, RSS of each worker) every RSS_SAMPLE_S
    rss_series: list[tuple[float, list[int]]] = field(default_factory=list)
    log: str = ""
    statuses: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [
            f"soak: {self.requests} requests in {self.seconds:.0f}s ({self.requests / max(self.seconds, 1):.0f}/s)"
        ]
        for (kind, code, reason), count in sorted(self.outcomes.items()):
            lines.append(f"  {kind:6} {code:20} {reason or '-':30} {count}")
        for index, (before, after) in enumerate(zip(self.start, self.end, strict=True)):
            lines.append(
                f"  worker {before.pid}: RSS {before.rss / 2**20:.1f} -> {after.rss / 2**20:.1f} MiB "
                f"(trend {self.rss_trend_per_call(index):+.0f} bytes per call), "
                f"fds {before.fds} -> {after.fds}"
            )
        lines.append(f"  unexpected: {dict(self.unexpected) or 'none'}")
        return "\n".join(lines)

    def rss_trend_per_call(self, worker: int) -> float:
        """The worker's RSS trend over the measured run, in bytes per call the soak made."""
        times = [at for at, _ in self.rss_series]
        values = [rss[worker] for _, rss in self.rss_series]
        return trend_per_second(times, values) * self.seconds / max(self.requests, 1)


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's worker processes (spawned interpreters; not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return sorted(int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes())


def sample(pids: list[int]) -> list[ProcessSample]:
    return [ProcessSample(pid, rss_bytes(pid), open_fds(pid)) for pid in pids]


def reason_of(error: grpc.aio.AioRpcError) -> str:
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not isinstance(raw, bytes):
        return "NO_DETAILS"
    for packed in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if packed.Unpack(info):
            return info.reason
    return "NO_ERROR_INFO"


async def sample_rss(pids: list[int], report: SoakReport, started: float) -> None:
    while True:
        report.rss_series.append((time.monotonic() - started, [rss_bytes(pid) for pid in pids]))
        await asyncio.sleep(RSS_SAMPLE_S)


async def one_call(stub: chat_pb2_grpc.ChatServiceAsyncStub, rng: random.Random) -> tuple[str, str, str, str]:
    draw = rng.random()
    kind = "faulty" if draw < FAULT_SHARE else "tight" if draw < FAULT_SHARE + TIGHT_SHARE else "good"
    key = TIGHT_KEY[0] if kind == "tight" else MAIN_KEY[0]
    model = "faulty" if kind == "faulty" else "good"
    metadata = (("authorization", f"Bearer {key}"),)
    text = " ".join(f"w{rng.randrange(1000)}" for _ in range(rng.randint(1, 12)))
    try:
        if rng.random() < 0.5:
            await stub.Chat(chat_request(model, user(text)), timeout=10, metadata=metadata)
        else:
            async for _ in stub.ChatStream(stream_request(model, user(text)), timeout=10, metadata=metadata):
                pass
    except grpc.aio.AioRpcError as error:
        return kind, error.code().name, reason_of(error), f"{error.code()} {error.details()}"
    return kind, "OK", "", ""


async def drive(
    stubs: list[chat_pb2_grpc.ChatServiceAsyncStub], seconds: float, report: SoakReport, seed: int
) -> None:
    stop_at = time.monotonic() + seconds

    async def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.monotonic() < stop_at:
            kind, code, reason, status = await one_call(stubs[index % len(stubs)], rng)
            report.requests += 1
            report.outcomes[(kind, code, reason)] += 1
            if (code, reason) not in EXPECTED[kind]:
                report.unexpected[(kind, code, reason)] += 1
            if status and len(report.statuses) < 200:
                report.statuses.append(status)

    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))


async def run_soak(seconds: float, tmp_path: Path, redis_url: str, warmup: float = 10.0) -> SoakReport:
    report = SoakReport()
    with OpenAISimulator(api_key=PROVIDER_KEY) as good, FaultySimulator(api_key=PROVIDER_KEY) as faulty:
        good.behaviour = Behaviour(inter_token=0.002)
        config = tmp_path / "soak.yaml"
        config.write_text(yaml.safe_dump(soak_config(good.base_url, faulty.base_url, redis_url)))
        server = ServerProcess(config, args=("--workers", str(WORKERS)), ready_lines=WORKERS)
        try:
            pids = worker_pids(server.process.pid)
            assert len(pids) == WORKERS, pids
            report.idle = sample(pids)
            # The same channels (so the same spread of connections over the workers) for the
            # warm-up and the measured run.
            # A subchannel pool of its own per channel: otherwise gRPC shares one TCP connection
            # between channels to the same address, and only one worker would see traffic.
            options = [("grpc.use_local_subchannel_pool", 1)]
            channels = [
                grpc.aio.insecure_channel(server.address, options=options) for _ in range(WORKERS * 4)
            ]
            stubs = [chat_pb2_grpc.ChatServiceStub(channel) for channel in channels]
            try:
                warm = SoakReport()
                await drive(stubs, warmup, warm, seed=1)
                report.start = sample(pids)
                started = time.monotonic()
                sampler = asyncio.create_task(sample_rss(pids, report, started))
                try:
                    await drive(stubs, seconds, report, seed=2)
                finally:
                    sampler.cancel()
                report.seconds = time.monotonic() - started
                await asyncio.sleep(0.5)
                report.end = sample(pids)
                report.unexpected.update(warm.unexpected)
            finally:
                for channel in channels:
                    await channel.close()
        finally:
            code = server.stop()
            report.log = "".join(server.log)
        assert code == 0, f"the server exited with {code}"
    return report
