"""bench/design_table.py: the design's table read against its targets, the gateway config it trips a
breaker with, and the static upstream's connection and request counters it measures pool reuse by."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import design_table, report
from bench.run import free_port, gateway_config
from llmgateway.auth.keys import new_key
from llmgateway.config.loading import parse_config

ROOT = Path(__file__).resolve().parent.parent


def _design(**changes: Any) -> dict[str, Any]:
    """A part's figures, every promise met; `changes` replace whole entries."""
    design: dict[str, Any] = {
        "date": "2026-12-07 15:00 UTC",
        "loadavg_before": ["0.50", "0.40", "0.30"],
        "seconds": 70,
        "overhead": {
            "source": "main run",
            "gateway_c1": {"p50_ms": 2.0, "p99_ms": 4.5},
            "upstream_c1": {"p50_ms": 0.2, "p99_ms": 0.4},
            "saturated": {"rps": 12_500.0, "cpu_ms_per_call": 0.08, "cores_busy": [0.5, 1.0]},
        },
        "pool_grpc": {"calls": 10_000, "connections": 32, "reuse": 1 - 32 / 10_000},
        "pool_http": {"calls": 10_000, "connections": 40, "reuse": 1 - 40 / 10_000},
        "pool_life": {"calls": 20_100, "connections": 72, "reuse": 1 - 72 / 20_100},
        "breaker": {
            "tripping_calls": ["UNAVAILABLE UPSTREAM_CONNECT_FAILED"] * 3 + ["UNAVAILABLE BREAKER_OPEN"],
            "calls": 2400,
            "unavailable": 2400,
            "p50_ms": 0.4,
            "p99_ms": 0.9,
            "status": {"Unavailable": 2400},
            "errors": {"rpc error: code = Unavailable desc = every deployment ...": 2400},
            "after": "UNAVAILABLE BREAKER_OPEN",
        },
        "memory_after_start": {
            "processes": 1,
            "each": [["llmgateway", 80.0]],
            "rss_mib": 80.0,
            "pss_mib": 70.0,
        },
        "memory_after_warmup": {
            "processes": 1,
            "each": [["llmgateway", 80.0]],
            "rss_mib": 82.0,
            "pss_mib": 71.0,
        },
        "default_serve": {
            "cores": 2,
            "store": "redis",
            "after_start": {
                "processes": 3,
                "each": [["a", 30.0], ["b", 30.0], ["c", 30.0]],
                "rss_mib": 90.0,
                "pss_mib": 60.0,
            },
            "after_warmup": {
                "processes": 3,
                "each": [["a", 31.0], ["b", 31.4], ["c", 31.6]],
                "rss_mib": 94.0,
                "pss_mib": 62.0,
            },
        },
    }
    return design | changes


def _rows(design: dict[str, Any]) -> dict[str, list[str]]:
    """The table's rows by their first cell (the promise), each as [how, figure, met]; promises
    that repeat (memory) get a counter."""
    rows: dict[str, list[str]] = {}
    for line in design_table.render(design):
        if not line.startswith("| ") or line.startswith(("| the design's", "| ---")):
            continue
        promise, *cells = (cell.strip() for cell in line.strip().strip("|").split("|"))
        name, n = promise, 1
        while name in rows:
            n += 1
            name = f"{promise} #{n}"
        rows[name] = cells
    return rows


def _met(design: dict[str, Any]) -> dict[str, str]:
    return {promise: cells[-1] for promise, cells in _rows(design).items()}


def test_every_promise_met_reads_yes() -> None:
    met = _met(_design())
    assert set(met) == {
        "overhead < 5 ms, p50",
        "overhead < 5 ms, p99",
        "> 10,000 req/s (per gateway core)",
        "connection-pool reuse > 95%, gRPC door",
        "connection-pool reuse > 95%, HTTP door",
        "connection-pool reuse > 95%, whole life",
        "breaker response < 1 ms, p50",
        "breaker response < 1 ms, p99",
        "baseline memory < 100 MB (95.4 MiB)",
        "baseline memory < 100 MB (95.4 MiB) #2",
        "baseline memory < 100 MB (95.4 MiB) #3",
        "baseline memory < 100 MB (95.4 MiB) #4",
    }
    assert set(met.values()) == {"yes"}


def test_overhead_is_the_gateway_minus_the_upstream_and_5_ms_is_not_under_5() -> None:
    overhead = _design()["overhead"] | {"gateway_c1": {"p50_ms": 5.19, "p99_ms": 5.4}}
    rows = _rows(_design(overhead=overhead))
    assert rows["overhead < 5 ms, p50"][1:] == ["4.99 ms (5.19 - 0.20)", "yes"]
    assert rows["overhead < 5 ms, p99"][1:] == ["5.00 ms (5.40 - 0.40)", "NO"]
    assert "the main run's columns" in rows["overhead < 5 ms, p50"][0]
    alone = _rows(_design(overhead=overhead | {"source": "this part"}))
    assert "this part's own runs" in alone["overhead < 5 ms, p50"][0]


def test_calls_per_second_per_core_and_the_cores_10000_would_need() -> None:
    overhead = _design()["overhead"] | {
        "saturated": {"rps": 500.0, "cpu_ms_per_call": 1.6, "cores_busy": [0.6, 0.99]}
    }
    how, figure, met = _rows(_design(overhead=overhead))["> 10,000 req/s (per gateway core)"]
    assert met == "NO"
    assert figure.startswith("500 calls/s on one core; 10,000 req/s needs 20.0 cores")
    assert "CPU 1.60 ms per call: 625 calls per CPU-second, 16.0 cores by CPU" in figure
    assert "core 1 busy 99%" in figure
    assert "pinned on core 1" in how


def test_pool_reuse_is_judged_strictly_above_95_percent() -> None:
    exactly = {"calls": 100, "connections": 5, "reuse": 0.95}
    met = _met(_design(pool_http=exactly, pool_life={"calls": 0, "connections": 0, "reuse": None}))
    assert met["connection-pool reuse > 95%, gRPC door"] == "yes"
    assert met["connection-pool reuse > 95%, HTTP door"] == "NO"
    assert met["connection-pool reuse > 95%, whole life"] == "—"


def test_reuse_counts_calls_and_connections_between_two_reads_less_the_reads_own() -> None:
    before = {"connections": 10, "requests": 500}
    after = {"connections": 10 + 4 + design_table.STATS_READ_CONNECTIONS, "requests": 900}
    assert design_table.reuse(before, after) == {"calls": 400, "connections": 4, "reuse": 0.99}
    assert design_table.reuse(before, before | {"connections": 11})["reuse"] is None


def test_a_slow_breaker_or_one_that_let_a_call_through_is_not_met() -> None:
    breaker = _design()["breaker"]
    slow = _met(_design(breaker=breaker | {"p99_ms": 1.0}))
    assert (slow["breaker response < 1 ms, p50"], slow["breaker response < 1 ms, p99"]) == ("yes", "NO")
    leaked = _rows(_design(breaker=breaker | {"unavailable": 2399, "status": {"Unavailable": 2399, "OK": 1}}))
    assert leaked["breaker response < 1 ms, p50"][1:] == [
        "0.40 ms (only 2,399 of 2,400 calls UNAVAILABLE; then: UNAVAILABLE BREAKER_OPEN)",
        "NO",
    ]
    closed = _met(_design(breaker=breaker | {"after": "UNAVAILABLE UPSTREAM_CONNECT_FAILED"}))
    assert closed["breaker response < 1 ms, p50"] == "NO"
    never = _rows(_design(breaker={"tripping_calls": ["UNAVAILABLE X"] * 20, "error": "did not open"}))
    assert never["breaker response < 1 ms"][1:] == ["not measured: did not open", "NO"]


def test_memory_is_judged_against_100_mb_in_mib() -> None:
    design = _design(
        memory_after_start={"processes": 1, "each": [["llmgateway", 80.0]], "rss_mib": 95.3, "pss_mib": 90.0},
        memory_after_warmup={
            "processes": 1,
            "each": [["llmgateway", 80.0]],
            "rss_mib": 95.4,
            "pss_mib": 90.0,
        },
    )
    rows = _rows(design)
    first, second, serve = (
        rows["baseline memory < 100 MB (95.4 MiB)"],
        rows["baseline memory < 100 MB (95.4 MiB) #2"],
        rows["baseline memory < 100 MB (95.4 MiB) #4"],
    )
    assert (first[1:], second[1:]) == (["95.3 MiB", "yes"], ["95.4 MiB", "NO"])  # 100 MB = 95.37 MiB
    assert serve[1] == "94.0 MiB (PSS 62.0 MiB)"
    assert "every process summed (MiB each: a 31, b 31, c 32), after warm-up calls" in serve[0]
    assert "limits in Redis" in serve[0]
    memory_store = _design()["default_serve"] | {"store": "memory"}
    assert (
        "no redis-server here"
        in _rows(_design(default_serve=memory_store))["baseline memory < 100 MB (95.4 MiB) #3"][0]
    )


def test_a_part_that_fails_is_said_and_the_others_still_run() -> None:
    failed: dict[str, str] = {}

    def no_stats() -> dict[str, Any]:
        raise RuntimeError("the upstream has no /stats")

    assert design_table.attempt("the pool", failed, no_stats) is None
    assert design_table.attempt("the breaker", failed, lambda: {"p50_ms": 0.4}) == {"p50_ms": 0.4}
    assert failed == {"the pool": "RuntimeError: the upstream has no /stats"}
    design = {key: value for key, value in _design().items() if not key.startswith(("pool", "memory"))}
    lines = design_table.render(design | {"overhead": None, "not_measured": failed})
    assert any(line.startswith("Not measured, the pool: the harness failed (RuntimeError:") for line in lines)
    assert "breaker response < 1 ms, p50" in _met(design)


def test_nothing_rendered_without_the_part_and_the_section_inside_results() -> None:
    assert design_table.render(None) == []
    assert "## The design's table, measured" not in report.render({})
    assert "## The design's table, measured" in report.render({"design": _design()})


def test_main_run_figures_are_reused_only_when_the_run_has_them() -> None:
    run = {
        "targets": {"gateway-on": {"unary_c1": {"p50_ms": 2.0}, "unary_saturated": {"rps": 400.0}}},
        "upstream": {"unary_c1": {"p50_ms": 0.2}},
    }
    reused = design_table.main_run_figures(run)
    assert reused is not None
    assert reused["source"] == "main run"
    assert reused["saturated"] == {"rps": 400.0}
    assert design_table.main_run_figures({"upstream": run["upstream"]}) is None
    assert design_table.main_run_figures(None) is None


def test_the_breaker_config_is_a_valid_gateway_config_with_a_dead_only_deployment() -> None:
    _, key_id, key_hash = new_key()
    base = gateway_config(
        "http://127.0.0.1:9/v1", features=True, key_id=key_id, key_hash=key_hash, http_port=9
    )
    config = parse_config(design_table.breaker_config(base, dead_port=1))
    [broken] = [model for model in config.models if model.name == design_table.BROKEN_MODEL]
    [deployment] = broken.deployments
    [nowhere] = [provider for provider in config.providers if provider.name == deployment.provider]
    assert str(nowhere.base_url).startswith("http://127.0.0.1:1")
    assert config.routing.breaker.consecutive_failures == design_table.TRIP_FAILURES
    assert config.routing.retry.max_retries == 0
    assert config.routing.breaker.open_s >= 600
    assert "nowhere" not in json.dumps(base)  # the base config is left as it was


def test_tree_memory_sums_a_process_and_its_children() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in design_table._descendants(os.getpid())
        memory = design_table.tree_memory(os.getpid())
        assert memory["processes"] >= 2
        [name, rss] = memory["each"][0]
        assert name == Path(f"/proc/{os.getpid()}/comm").read_text().strip()
        assert "sleep" in [name for name, _ in memory["each"]]
        assert memory["rss_mib"] > rss > 0
        assert memory["pss_mib"] > 0
    finally:
        child.kill()
        child.wait()


# --------------------------------------------------------------------------------------------------
# The static upstream's GET /stats


@pytest.fixture(scope="module")
def static_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """bench/static_upstream built and serving on a free port."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go builds bench/static_upstream (make bench-tools)")
    binary = tmp_path_factory.mktemp("upstream") / "static-upstream"
    subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=ROOT / "bench/static_upstream", check=True, timeout=120
    )
    port = free_port()
    process = subprocess.Popen([binary, "-port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening" in line, line
        yield port
    finally:
        process.kill()
        process.wait()


def _stats(port: int) -> dict[str, int]:
    return design_table.upstream_stats(f"http://127.0.0.1:{port}/v1")


def _post(connection: http.client.HTTPConnection, key: str = "sk-bench") -> int:
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi."}]})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection.request("POST", "/v1/chat/completions", body, headers)
    answer = connection.getresponse()
    answer.read()
    return answer.status


def test_stats_counts_connections_and_api_requests(static_upstream: int) -> None:
    before = _stats(static_upstream)
    kept = http.client.HTTPConnection("127.0.0.1", static_upstream, timeout=5)
    other = http.client.HTTPConnection("127.0.0.1", static_upstream, timeout=5)
    try:
        assert [_post(kept), _post(kept), _post(kept, key="wrong")] == [200, 200, 401]
        other.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-bench"})
        assert other.getresponse().status == 200
    finally:
        kept.close()
        other.close()
    after = _stats(static_upstream)
    # Four API requests (a refused one too) on two connections; the /stats reads are not requests,
    # and the second read's own connection is taken off.
    assert design_table.reuse(before, after) == {"calls": 4, "connections": 2, "reuse": 0.5}


def test_each_stats_read_closes_its_connection(static_upstream: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", static_upstream, timeout=5)
    try:
        connection.request("GET", "/stats")
        answer = connection.getresponse()
        assert answer.getheader("Connection") == "close"
        assert set(json.loads(answer.read())) == {"connections", "requests"}
    finally:
        connection.close()
