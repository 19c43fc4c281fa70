"""The original design's own table, measured (issue 25, item 7).

The design promised: overhead < 5 ms, > 10,000 req/s, connection-pool reuse > 95%, circuit-breaker
response < 1 ms, < 100 MB baseline memory. Each promise is measured here by the harness, with the
gateway's features on (the `gateway-on` config of bench/run.py):

- overhead: added latency at concurrency 1 (ghz `Chat` through the gateway minus hey to the upstream
  directly), p50 and p99; inside `make bench` taken from the main run's columns, alone measured here;
- req/s: saturated calls/s of one worker pinned on one core, with its CPU ms per call, and the cores
  10,000 req/s would need at that rate (from the main run inside `make bench`);
- pool reuse: 1 - connections/calls, counted at the upstream (bench/static_upstream's GET /stats)
  around saturated windows through the gRPC door (ghz) and the HTTP door (hey), and over the
  gateway's whole life (from before it started, its pool empty);
- breaker response: a gateway whose model `broken` has one deployment on a port nothing listens on;
  failing calls open its breaker, then ghz times calls one at a time, each of which must fail with
  UNAVAILABLE (the breaker's message; the reason BREAKER_OPEN is checked before and after);
- baseline memory: RSS of an idle gateway with one worker after start and after warm-up calls, and of
  the default `serve` (one worker per core: the supervisor and its workers summed).

`measure` runs inside `make bench` (results["design"]) or alone (`python -m bench.run --design`,
merged into results.json); `render` gives RESULTS.md its section. This module imports bench.run only
inside `measure` (bench.run and bench.report import this one).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from bench.stream_probe import percentile
from bench.upstream import FAST_MODEL

if TYPE_CHECKING:
    from bench.run import Profile, Target

# The design's promises.
OVERHEAD_MS = 5.0
CALLS_PER_S = 10_000
POOL_REUSE = 0.95
BREAKER_MS = 1.0
# "100 MB" as the design wrote it, in MiB (the unit every RSS in RESULTS.md is given in).
BASELINE_MIB = 100e6 / 2**20

# The breaker of the `broken` model opens after this many failures in a row and stays open far
# longer than the measurement; no retries, so each tripping call is one failure.
TRIP_FAILURES = 3
TRIP_CALLS_MAX = 20
BREAKER_CALLS_PER_S = 200  # ghz calls at concurrency 1 per second of the profile's closed_s
BROKEN_MODEL = "broken"
BREAKER_REASON = "BREAKER_OPEN"
# Each GET /stats is a connection of its own (the upstream closes it after the reply), counted by
# the read that follows it: subtracted from the connections between two reads.
STATS_READ_CONNECTIONS = 1
# The labels of this part's own command lines among bench.run's COMMANDS.
COMMAND_PREFIX = "design: "


# --------------------------------------------------------------------------------------------------
# Measuring


def upstream_stats(upstream_url: str) -> dict[str, int]:
    """The static upstream's counters: connections accepted and API requests served."""
    origin = upstream_url.removesuffix("/v1")
    try:
        with urllib.request.urlopen(f"{origin}/stats", timeout=5) as answer:
            counts: dict[str, int] = json.loads(answer.read())
    except OSError as error:
        raise RuntimeError(
            f"the upstream has no /stats ({error}): `make bench-tools` rebuilds bench/static_upstream"
        ) from error
    return counts


def reuse(before: dict[str, int], after: dict[str, int]) -> dict[str, Any]:
    """Upstream calls and connections between two /stats reads, and reuse = 1 - connections/calls."""
    calls = after["requests"] - before["requests"]
    connections = after["connections"] - before["connections"] - STATS_READ_CONNECTIONS
    return {
        "calls": calls,
        "connections": connections,
        "reuse": 1 - connections / calls if calls > 0 else None,
    }


def _descendants(pid: int) -> list[int]:
    """The process and every process below it (a supervisor, its workers and their helpers)."""
    from bench.run import children  # noqa: PLC0415 (bench.run imports this module)

    found, queue = [], [pid]
    while queue:
        one = queue.pop()
        found.append(one)
        queue.extend(children(one))
    return found


def _status_kib(pid: int, field: str, source: str) -> int:
    """A `Field:   N kB` line of /proc/<pid>/<source> (status or smaps_rollup), in KiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def tree_memory(pid: int) -> dict[str, Any]:
    """RSS of the process and all its descendants summed, in MiB; beside it their PSS (proportional
    set size: pages shared by several processes, such as a supervisor's and its workers' code,
    shared out rather than counted in each), which sums to what the processes really hold."""
    each = []  # (command name, RSS in MiB) of every process, the first being `pid`
    for one in _descendants(pid):
        with contextlib.suppress(OSError):
            name = Path(f"/proc/{one}/comm").read_text().strip()
            each.append(
                (name, _status_kib(one, "VmRSS", "status") / 1024, _status_kib(one, "Pss", "smaps_rollup"))
            )
    return {
        "processes": len(each),
        "each": [[name, rss] for name, rss, _ in each],
        "rss_mib": sum(rss for _, rss, _ in each),
        "pss_mib": sum(pss for _, _, pss in each) / 1024,
    }


def breaker_config(base: dict[str, Any], dead_port: int) -> dict[str, Any]:
    """`base` (the gateway-on config) with a model whose only deployment is a port nothing listens
    on, a breaker that opens after TRIP_FAILURES failures in a row and stays open an hour, and no
    retries (each call is one failure)."""
    config: dict[str, Any] = json.loads(json.dumps(base))
    config["providers"].append(
        {
            "name": "nowhere",
            "type": "openai",
            "base_url": f"http://127.0.0.1:{dead_port}",
            "api_key": "sk-nowhere",
        }
    )
    config["models"].append(
        {"name": BROKEN_MODEL, "deployments": [{"provider": "nowhere", "model": FAST_MODEL}]}
    )
    config["routing"] = {
        "retry": {"max_retries": 0},
        "breaker": {"consecutive_failures": TRIP_FAILURES, "open_s": 3600.0},
    }
    return config


def error_reason(error: Any) -> str:
    """The ErrorInfo reason of a failed call (empty when it carries none)."""
    from google.rpc import error_details_pb2  # noqa: PLC0415 (grpcio-status: a measuring-only need)
    from grpc_status import rpc_status  # noqa: PLC0415

    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def broken_call_reason(target: Target) -> tuple[str, str]:
    """One `Chat` call to the broken model: its status code name and ErrorInfo reason."""
    from bench import run as harness  # noqa: PLC0415 (bench.run imports this module)
    from llmgateway.v1 import chat_pb2, chat_pb2_grpc, content_pb2  # noqa: PLC0415

    request = chat_pb2.ChatRequest(
        model=BROKEN_MODEL,
        messages=[
            content_pb2.Message(role=content_pb2.ROLE_USER, parts=[content_pb2.Part(text=harness.PROMPT)])
        ],
    )
    metadata = (("authorization", f"Bearer {target.api_key}"),) if target.api_key else None
    with grpc.insecure_channel(target.address) as channel:
        try:
            chat_pb2_grpc.ChatServiceStub(channel).Chat(request, metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            return error.code().name, error_reason(error)
    return "OK", ""


def timed_failures(target: Target, calls: int) -> dict[str, Any]:
    """ghz: `calls` calls to the broken model one at a time, p50/p99 of those that failed with
    UNAVAILABLE (ghz's per-call details: its latency distribution counts successful calls only)."""
    from bench import run as harness  # noqa: PLC0415

    argv = harness.ghz_argv(target, "Chat", ["--total", str(calls)], concurrency=1, model=BROKEN_MODEL)
    harness.record(f"{COMMAND_PREFIX}ghz Chat concurrency 1, the breaker open", argv)
    raw = json.loads(subprocess.run(argv, capture_output=True, check=True).stdout)
    details = raw.get("details") or []
    latencies = [one["latency"] / 1e6 for one in details if one.get("status") == "Unavailable"]
    return {
        "calls": len(details),
        "unavailable": len(latencies),
        "p50_ms": percentile(latencies, 50) if latencies else None,
        "p99_ms": percentile(latencies, 99) if latencies else None,
        "status": raw.get("statusCodeDistribution") or {},
        "errors": raw.get("errorDistribution") or {},
    }


def measure_breaker(upstream_url: str, profile: Profile) -> dict[str, Any]:
    """The breaker's fail-fast: trip it with failing calls, then time calls while it is open."""
    from bench import run as harness  # noqa: PLC0415
    from llmgateway.auth.keys import new_key  # noqa: PLC0415

    key, key_id, key_hash = new_key()
    http_port = harness.free_port()
    base = harness.gateway_config(
        upstream_url, features=True, key_id=key_id, key_hash=key_hash, http_port=http_port
    )
    config = breaker_config(base, harness.free_port())
    path = harness.OUT / "design-breaker.yaml"
    path.write_text(json.dumps(config, indent=2))  # YAML is a superset of JSON
    port = harness.free_port()
    argv = harness.gateway_argv(path, port)
    target = harness.Target("design-breaker", argv, port, "fast", "paced", key, http_port=http_port)
    harness.record(f"{COMMAND_PREFIX}gateway-on with a model whose only deployment is down", argv)
    target.process = harness.start(argv, harness.OUT / "design-breaker.log")
    try:
        harness.wait_ready(target)
        tripping: list[str] = []
        while len(tripping) < TRIP_CALLS_MAX:
            code, reason = broken_call_reason(target)
            tripping.append(f"{code} {reason}")
            if reason == BREAKER_REASON:
                break
        figures: dict[str, Any] = {"tripping_calls": tripping}
        if not tripping[-1].endswith(BREAKER_REASON):
            figures["error"] = f"the breaker did not open after {len(tripping)} failing calls"
            return figures
        figures |= timed_failures(target, BREAKER_CALLS_PER_S * profile.closed_s)
        figures["after"] = " ".join(broken_call_reason(target))
        return figures
    finally:
        harness.stop(target.process)


@contextlib.contextmanager
def redis_store() -> Any:
    """A redis-server of its own (no persistence) for the default `serve`: with the memory store and
    limits, `serve` keeps to one worker (bench/README.md); None when there is no redis-server."""
    from bench import run as harness  # noqa: PLC0415

    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = harness.free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = harness.start(argv, harness.OUT / "design-redis.log")
    try:
        deadline = time.monotonic() + 10
        while "Ready to accept connections" not in (harness.OUT / "design-redis.log").read_text():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start: see bench/out/design-redis.log")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        harness.stop(process)


def measure_default_serve(upstream_url: str) -> dict[str, Any]:
    """`llmgateway serve` with features on and no --workers (one per core when limits live in
    Redis), nothing pinned: every process's memory summed, after start and after warm-up calls
    spread over several connections (SO_REUSEPORT gives each worker some)."""
    from bench import run as harness  # noqa: PLC0415
    from llmgateway.auth.keys import new_key  # noqa: PLC0415

    key, key_id, key_hash = new_key()
    http_port = harness.free_port()
    config = harness.gateway_config(
        upstream_url, features=True, key_id=key_id, key_hash=key_hash, http_port=http_port
    )
    with redis_store() as redis_url:
        path = harness.OUT / "design-default-serve.yaml"
        argv = [str(harness.ROOT / ".venv/bin/llmgateway"), "serve", "--config", str(path)]
        port = harness.free_port()
        argv += ["--listen", f"127.0.0.1:{port}"]
        figures: dict[str, Any] = {"cores": len(os.sched_getaffinity(0)), "store": "redis"}
        if redis_url is None:
            # The default with the memory store and limits is one worker; the same processes as the
            # default with Redis, by an explicit count.
            argv += ["--workers", str(figures["cores"])]
            figures["store"] = "memory"
        else:
            config["store"] = {"backend": "redis", "redis_url": redis_url}
        path.write_text(json.dumps(config, indent=2))
        target = harness.Target("design-default", argv, port, "fast", "paced", key, http_port=http_port)
        harness.record(f"{COMMAND_PREFIX}gateway-on, the default serve (no --workers)", argv)
        target.process = harness.start(argv, harness.OUT / "design-default-serve.log")
        try:
            harness.wait_ready(target)
            time.sleep(1.0)
            figures["after_start"] = tree_memory(target.process.pid)
            harness.ghz(target, "Chat", concurrency=8, connections=8, seconds=2, pin=False)
            time.sleep(1.0)
            figures["after_warmup"] = tree_memory(target.process.pid)
        finally:
            harness.stop(target.process)
    return figures


def main_run_figures(main: dict[str, Any] | None) -> dict[str, Any] | None:
    """The main run's gateway-on and upstream figures, when this part runs inside `make bench`."""
    if not main:
        return None
    gateway = main.get("targets", {}).get("gateway-on", {})
    upstream = main.get("upstream", {})
    if not (gateway.get("unary_c1") and gateway.get("unary_saturated") and upstream.get("unary_c1")):
        return None
    return {
        "source": "main run",
        "gateway_c1": gateway["unary_c1"],
        "upstream_c1": upstream["unary_c1"],
        "saturated": gateway["unary_saturated"],
    }


def measure_gateway(upstream_url: str, profile: Profile, main: dict[str, Any] | None) -> dict[str, Any]:
    """One gateway (features on, one worker on core 1): memory after start and after warm-up, pool
    reuse through each door, and (when not taken from the main run) overhead and saturated calls/s."""
    from bench import run as harness  # noqa: PLC0415

    figures: dict[str, Any] = {}
    reused = main_run_figures(main)
    completions = f"{upstream_url}/chat/completions"
    if reused is None:
        body = harness.openai_body(FAST_MODEL)
        harness.hey(completions, body, concurrency=4, seconds=2)  # warm up
        upstream_c1 = harness.hey(completions, body, concurrency=1, seconds=profile.closed_s)
    target = next(one for one in harness.targets(upstream_url) if one.name == "gateway-on")
    door = f"{target.http_base}/chat/completions"
    door_body = harness.openai_body(target.fast_model)
    life_before = upstream_stats(upstream_url)
    target.process = harness.start(target.argv, harness.OUT / "design-gateway-on.log")
    try:
        harness.wait_ready(target)
        harness.wait_http_ready(target)
        pid = target.process.pid
        time.sleep(1.0)
        figures["memory_after_start"] = tree_memory(pid)
        harness.ghz(target, "Chat", concurrency=4, seconds=2)  # warm-up calls, both doors
        harness.hey(door, door_body, concurrency=4, seconds=2, api_key=target.api_key)
        time.sleep(1.0)
        figures["memory_after_warmup"] = tree_memory(pid)
        if reused is None:
            gateway_c1 = harness.ghz(target, "Chat", concurrency=1, seconds=profile.closed_s)
        before = upstream_stats(upstream_url)
        saturated = harness.saturated(target, pid, "Chat", profile.closed_s)
        after = upstream_stats(upstream_url)
        figures["pool_grpc"] = {**reuse(before, after), "gateway_calls": saturated["calls"]}
        before = upstream_stats(upstream_url)
        http = harness.hey_saturated(door, door_body, pid, profile.closed_s, api_key=target.api_key)
        after = upstream_stats(upstream_url)
        figures["pool_http"] = {**reuse(before, after), "gateway_calls": http["calls"]}
        figures["pool_life"] = reuse(life_before, after)
    finally:
        harness.stop(target.process)
    if reused is None:
        reused = {
            "source": "this part",
            "gateway_c1": gateway_c1,
            "upstream_c1": upstream_c1,
            "saturated": saturated,
        }
    figures["overhead"] = reused
    return figures


# A part that fails leaves the others and the run going (inside `make bench` a crash here would
# lose the main run's figures, written only at its end); the section says what failed and why.
PART_FAILURES = (
    RuntimeError,
    OSError,
    subprocess.CalledProcessError,
    subprocess.TimeoutExpired,
    json.JSONDecodeError,
    grpc.RpcError,
)


def attempt(
    what: str, failed: dict[str, str], measure_part: Callable[[], dict[str, Any]]
) -> dict[str, Any] | None:
    """`measure_part()`, or None with `failed[what]` saying why it failed."""
    print(f"design table: {what} ...", flush=True)
    try:
        return measure_part()
    except PART_FAILURES as error:
        failed[what] = f"{type(error).__name__}: {error}".strip()
        print(f"design table: {what} not measured: {failed[what]}", flush=True)
        return None


def measure(upstream_url: str, profile: Profile, main: dict[str, Any] | None = None) -> dict[str, Any]:
    """The design's table: `main` is the main run's results when this part runs inside `make bench`
    (its concurrency-1 and saturated figures are reused); alone, they are measured here."""
    started = time.monotonic()
    figures: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "profile": profile.name,
    }
    failed: dict[str, str] = {}
    gateway = attempt(
        "the gateway's overhead, throughput, pool and memory",
        failed,
        lambda: measure_gateway(upstream_url, profile, main),
    )
    figures |= gateway or {}
    figures["breaker"] = attempt(
        "the breaker's response", failed, lambda: measure_breaker(upstream_url, profile)
    )
    figures["default_serve"] = attempt(
        "the default serve's memory", failed, lambda: measure_default_serve(upstream_url)
    )
    if failed:
        figures["not_measured"] = failed
    figures["seconds"] = round(time.monotonic() - started)
    from bench import run as harness  # noqa: PLC0415

    figures["commands"] = {
        label.removeprefix(COMMAND_PREFIX): line
        for label, line in harness.COMMANDS.items()
        if label.startswith(COMMAND_PREFIX)
    }
    return figures


# --------------------------------------------------------------------------------------------------
# Rendering


def _number(value: float, digits: int = 2) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "NO")


def _row(promise: str, how: str, figure: str, ok: bool | None) -> str:
    return f"| {promise} | {how} | {figure} | {_met(ok)} |"


def _source(overhead: dict[str, Any]) -> str:
    if overhead["source"] == "main run":
        return "the main run's columns (gateway on, gRPC door; upstream direct)"
    return "this part's own runs (the upstream, then the gateway)"


def _overhead_rows(overhead: dict[str, Any] | None) -> list[str]:
    if not overhead:
        return []
    where = _source(overhead)
    rows = []
    how = (
        "added latency at concurrency 1: ghz `Chat` through the gateway (features on, one worker on "
        f"core 1) minus hey to the upstream directly, p50; from {where}"
    )
    for label, key in (("p50", "p50_ms"), ("p99", "p99_ms")):
        added = overhead["gateway_c1"][key] - overhead["upstream_c1"][key]
        rows.append(
            _row(
                f"overhead < {OVERHEAD_MS:g} ms, {label}",
                how if label == "p50" else "the same, p99",
                f"{added:.2f} ms ({overhead['gateway_c1'][key]:.2f} - {overhead['upstream_c1'][key]:.2f})",
                added < OVERHEAD_MS,
            )
        )
    return rows


def _throughput_row(overhead: dict[str, Any] | None) -> list[str]:
    if not overhead:
        return []
    saturated = overhead["saturated"]
    rate, cpu_ms = saturated["rps"], saturated.get("cpu_ms_per_call")
    figure = f"{_number(rate)} calls/s on one core; 10,000 req/s needs {CALLS_PER_S / rate:.1f} cores"
    if cpu_ms:
        figure += (
            f" (CPU {cpu_ms:.2f} ms per call: {1000 / cpu_ms:,.0f} calls per CPU-second, "
            f"{CALLS_PER_S * cpu_ms / 1000:.1f} cores by CPU)"
        )
    busy = saturated.get("cores_busy")
    if busy and len(busy) > 1:
        figure += f"; core 1 busy {busy[1]:.0%}, core 0 (ghz, upstream) {busy[0]:.0%}"
    return [
        _row(
            f"> {CALLS_PER_S:,} req/s (per gateway core)",
            "saturated calls/s: ghz `Chat`, closed loop at concurrency 32, the gateway (features on) "
            "one worker pinned on core 1; CPU ms per call = the worker's utime + stime over the calls; "
            f"from {_source(overhead)}",
            figure,
            rate >= CALLS_PER_S,
        )
    ]


def _pool_rows(design: dict[str, Any]) -> list[str]:
    rows: list[str] = []
    counted = "1 - connections / calls, both counted at the upstream (GET /stats before and after): "
    for key, where, what in (
        ("pool_grpc", "gRPC door", "a saturated window through the gRPC door (ghz `Chat`, concurrency 32)"),
        ("pool_http", "HTTP door", "a saturated window through the HTTP door (hey, concurrency 32)"),
        ("pool_life", "whole life", "from before the gateway started (no pool) to the end of both windows"),
    ):
        pool = design.get(key)
        if not pool:
            continue
        share = pool["reuse"]
        figure = (
            f"{share:.2%} ({pool['calls']:,} upstream calls, {pool['connections']:,} connections opened)"
            if share is not None
            else "no upstream calls"
        )
        rows.append(
            _row(
                f"connection-pool reuse > {POOL_REUSE:.0%}, {where}",
                (counted if not rows else "the same, ") + what,
                figure,
                None if share is None else share > POOL_REUSE,
            )
        )
    return rows


def _breaker_rows(breaker: dict[str, Any] | None) -> list[str]:
    if not breaker:
        return []
    how = (
        f"`Chat` to a model whose only deployment is a port nothing listens on, once failing calls "
        f"opened its breaker ({TRIP_FAILURES} in a row, no retries; open for an hour): ghz, "
        f"{breaker.get('calls', 0):,} calls one at a time; latency of those answered UNAVAILABLE"
    )
    if "error" in breaker:
        return [
            _row(f"breaker response < {BREAKER_MS:g} ms", how, f"not measured: {breaker['error']}", False)
        ]
    rows = []
    # Every timed call must be the breaker's fail-fast, and the breaker still open after them.
    every = breaker["unavailable"] == breaker["calls"] and str(breaker.get("after", "")).endswith(
        BREAKER_REASON
    )
    for label, key in (("p50", "p50_ms"), ("p99", "p99_ms")):
        value = breaker[key]
        figure = "—" if value is None else f"{value:.2f} ms"
        if not every:
            figure += (
                f" (only {breaker['unavailable']:,} of {breaker['calls']:,} calls UNAVAILABLE; "
                f"then: {breaker.get('after')})"
            )
        rows.append(
            _row(
                f"breaker response < {BREAKER_MS:g} ms, {label}",
                how if label == "p50" else "the same, p99",
                figure,
                None if value is None else (value < BREAKER_MS and every),
            )
        )
    return rows


def _memory_rows(design: dict[str, Any]) -> list[str]:
    rows = []
    target = f"< 100 MB ({BASELINE_MIB:.1f} MiB)"
    for key, what in (
        ("memory_after_start", "one worker (features on), idle 1 s after its first call"),
        ("memory_after_warmup", "the same, idle 1 s after 2 s of warm-up calls through each door"),
    ):
        memory = design.get(key)
        if memory:
            rows.append(
                _row(
                    f"baseline memory {target}",
                    f"RSS, {what}",
                    f"{memory['rss_mib']:.1f} MiB",
                    memory["rss_mib"] < BASELINE_MIB,
                )
            )
    default = design.get("default_serve") or {}
    for key, when in (("after_start", "after start"), ("after_warmup", "after warm-up calls")):
        memory = default.get(key)
        if not memory:
            continue
        store = (
            "limits in Redis"
            if default.get("store") == "redis"
            else "no redis-server here: `--workers` set to the cores, limits in memory"
        )
        processes = ", ".join(f"{name} {rss:.0f}" for name, rss in memory.get("each", []))
        rows.append(
            _row(
                f"baseline memory {target}",
                f"RSS of the default `serve` ({default['cores']} cores, {store}): the supervisor and "
                f"its workers, every process summed (MiB each: {processes}), {when}",
                f"{memory['rss_mib']:.1f} MiB (PSS {memory['pss_mib']:.1f} MiB)",
                memory["rss_mib"] < BASELINE_MIB,
            )
        )
    return rows


def render(design: dict[str, Any] | None) -> list[str]:
    """RESULTS.md's section "The design's table, measured" (nothing when the part did not run)."""
    if not design:
        return []
    out = ["", "## The design's table, measured", ""]
    out.append(
        f"The original design's promises, each measured by the harness (bench/design_table.py; "
        f"`make bench-design` alone), {design['date']}, load average before "
        f"{' '.join(design.get('loadavg_before', []))}, {design.get('seconds', '?')} s. Every figure "
        'is from this run; "met" reads the figure against the design\'s target as written.'
    )
    out += [
        "",
        "| the design's promise | what was measured and how | figure | met |",
        "| --- | --- | --- | --- |",
    ]
    out += _overhead_rows(design.get("overhead"))
    out += _throughput_row(design.get("overhead"))
    out += _pool_rows(design)
    out += _breaker_rows(design.get("breaker"))
    out += _memory_rows(design)
    for what, why in (design.get("not_measured") or {}).items():
        out += ["", f"Not measured, {what}: the harness failed ({why}); see bench/out/design-*.log."]
    breaker = design.get("breaker") or {}
    if breaker.get("status"):
        out += [
            "",
            "The breaker's calls: statuses "
            + ", ".join(f"{name} {count}" for name, count in breaker["status"].items())
            + "; messages: "
            + "; ".join(f"{count} x {message}" for message, count in breaker.get("errors", {}).items())
            + f". Before the timed calls: {', '.join(breaker.get('tripping_calls', []))}; after: "
            f"{breaker.get('after', '?')}.",
        ]
    commands = design.get("commands") or {}
    if commands:
        out += ["", "This part's own commands (the others are the main run's kinds above):", "", "```"]
        out += [f"# {label}\n{line}" for label, line in commands.items()]
        out.append("```")
    return out
