"""bench/report.py's reading of a run against the issue's reference machine and its targets."""

from __future__ import annotations

from typing import Any

from bench import report


def _run() -> dict[str, Any]:
    """A run's figures, only those the sections below read."""

    def server(c1_p50: float, c1_p99: float, rps: float, ttft: float) -> dict[str, Any]:
        return {
            "unary_c1": {"p50_ms": c1_p50, "p99_ms": c1_p99},
            "unary_saturated": {"rps": rps},
            "stream_fast": {"ttft_p50_ms": ttft, "tokens_per_stream": 16.0},
            "stream_saturated": {"tokens_per_s": 2600.0},
            "rss_idle_mb": 80.0,
            "soak": {"rss_growth_mb": 0.1, "seconds": 600},
        }

    return {
        "echo": {
            "unary_c1": {"p50_ms": 0.52, "p99_ms": 2.0},
            "unary_saturated": {"rps": 1950.0, "cpu_ms_per_call": 0.25},
        },
        "upstream": {"unary_c1": {"p50_ms": 0.2, "p99_ms": 0.4}, "stream_fast": {"ttft_p50_ms": 3.0}},
        "targets": {
            "gateway-on": server(3.4, 6.4, 370.0, 4.8),
            "forwarder": server(3.2, 6.3, 392.0, 4.5),
        },
    }


def _row(lines: list[str], label: str) -> list[str]:
    [line] = [line for line in lines if line.startswith(f"| {label} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_slower_by_divides_latency_by_the_reference_and_the_reference_by_throughput() -> None:
    lines = report.reference_section(_run())
    assert _row(lines, "bare echo: p50 ms at concurrency 1") == [
        "bare echo: p50 ms at concurrency 1",
        "0.26",
        "0.52",
        "2.0x",
    ]
    assert _row(lines, "minimal forwarder: calls/s, saturated")[1:] == ["980", "392", "2.5x"]
    # What this run did not measure (no LiteLLM here) is shown as missing, not as zero.
    assert _row(lines, "LiteLLM proxy: calls/s per worker, saturated")[2:] == ["—", "—"]
    assert any("about 4,000 calls/s on its core" in line for line in lines)


def test_absolute_targets_show_the_floor_beside_them() -> None:
    rows = report.targets_section(_run())
    p99 = _row(rows, "(not a target) the minimal forwarder's own added p99 on this machine")
    assert p99[1] == "5.90 ms (the gateway +0.10 ms beyond it)"
    ttft = _row(rows, "(not a target) the minimal forwarder's own added time to first token")
    assert ttft[1] == "1.50 ms (the gateway +0.30 ms beyond it)"
    # The targets themselves stay the strict reading.
    assert _row(rows, "added p99 ≤ 2.5 ms")[1:] == ["6.00 ms", "NO"]


def test_the_section_appears_only_when_the_echo_server_was_measured() -> None:
    run = _run()
    assert "## This machine against the issue's reference machine" in report.render(run)
    del run["echo"]
    assert "## This machine against the issue's reference machine" not in report.render(run)


def _doors() -> dict[str, Any]:
    """A run with the gateway's two doors (features on and off), the shape bench/run.py writes."""

    def door(c1_p50: float, rps: float, cpu: float, ttft: float) -> dict[str, Any]:
        return {
            "unary_c1": {"p50_ms": c1_p50, "p99_ms": 2 * c1_p50},
            "unary_saturated": {"rps": rps, "cpu_ms_per_call": cpu},
            "stream_fast": {"ttft_p50_ms": ttft, "tokens_per_stream": 16.0},
            "stream_saturated": {"rps": 180.0, "tokens_per_s": 2880.0},
        }

    run = _run()
    run["targets"] |= {
        # The gRPC door keeps the figures only it has (RSS, the soak) that issue 8's rows read.
        "gateway-on": run["targets"]["gateway-on"] | door(2.70, 500.0, 1.60, 4.3),
        "gateway-on-http": door(3.10, 460.0, 1.70, 3.4),
        "gateway-off": door(2.50, 600.0, 1.40, 4.0),
        "gateway-off-http": door(2.40, 660.0, 1.30, 3.2),
    }
    return run


def test_http_door_targets_are_ratios_against_the_grpc_door_of_the_same_run() -> None:
    rows = report.http_door_targets_section(_doors())
    assert _row(rows, "HTTP door saturated calls/s ≥ 90% of the gRPC door's")[1:] == [
        "460 vs 500 calls/s: 92%",
        "yes",
    ]
    # 3.10 - 2.70: the upstream-direct p50 both added figures subtract cancels out.
    assert _row(rows, "HTTP door added p50 at concurrency 1 ≤ the gRPC door's + 0.5 ms")[1:] == [
        "3.10 vs 2.70 ms: +0.40 ms",
        "yes",
    ]
    assert _row(rows, "(not a target) the same share with features off")[1:] == ["110%", "—"]
    assert _row(rows, "(not a target) CPU ms per saturated call, HTTP door vs gRPC door")[1] == (
        "1.70 vs 1.60 ms (106%)"
    )


def test_http_door_targets_say_no_as_measured() -> None:
    run = _doors()
    run["targets"]["gateway-on-http"]["unary_saturated"]["rps"] = 400.0
    run["targets"]["gateway-on-http"]["unary_c1"]["p50_ms"] = 3.30
    rows = report.http_door_targets_section(run)
    assert _row(rows, "HTTP door saturated calls/s ≥ 90% of the gRPC door's")[2] == "NO"
    assert _row(rows, "HTTP door added p50 at concurrency 1 ≤ the gRPC door's + 0.5 ms")[1:] == [
        "3.30 vs 2.70 ms: +0.60 ms",
        "NO",
    ]


def test_http_door_against_litellm_only_when_it_was_measured() -> None:
    label = "HTTP door saturated calls/s per core ≥ 8x LiteLLM's"
    run = _doors()
    assert _row(report.http_door_targets_section(run), label)[1:] == [
        "LiteLLM not measured in this run (`make bench-compare`)",
        "—",
    ]
    run["litellm"] = {"unary_saturated": {"rps": 50.0}}
    assert _row(report.http_door_targets_section(run), label)[1:] == ["460 vs 50.00 calls/s: 9.2x", "yes"]
    run["litellm"] = {"unary_saturated": {"rps": 60.0}}
    assert _row(report.http_door_targets_section(run), label)[2] == "NO"
    run["litellm"] = {"error": "the LiteLLM proxy exited"}
    assert _row(report.http_door_targets_section(run), label)[2] == "—"


def test_interleaved_door_rounds_give_medians_beside_the_single_run() -> None:
    run = _doors()
    run["doors_interleaved"] = {
        "rounds": 4,
        "seconds": 5,
        "grpc": {
            "p50_ms": [2.7, 2.9, 2.8, 3.6],
            "p99_ms": [9.0, 9.0, 9.0, 9.0],
            "rps": [480.0, 500.0, 300.0, 520.0],
            "cpu_ms_per_call": [1.6, 1.6, 1.7, 1.5],
        },
        "http": {
            "p50_ms": [2.0, 2.2, 2.1, 2.4],
            "p99_ms": [7.0, 7.0, 7.0, 7.0],
            "rps": [450.0, 470.0, 460.0, 440.0],
            "cpu_ms_per_call": [1.2, 1.2, 1.2, 1.2],
        },
    }
    rows = report.http_door_targets_section(run)
    how = "medians of 4 interleaved rounds of 5 s in one process"
    # 455 / 490 calls/s; 2.15 - 2.85 ms.
    assert _row(rows, f"(not a target) calls/s against the gRPC door, {how}")[1] == "93%: holds"
    assert _row(rows, f"(not a target) p50 at concurrency 1 against the gRPC door, {how}")[1] == (
        "-0.70 ms: holds"
    )
    section = report.doors_interleaved_section(run["doors_interleaved"])
    assert _row(section, "saturated calls/s")[1:] == [
        "490 (480, 500, 300, 520)",
        "455 (450, 470, 460, 440)",
    ]


def test_the_http_door_columns_sit_beside_the_grpc_doors() -> None:
    markdown = report.render(_doors())
    header = next(line for line in markdown.splitlines() if line.startswith("| figure | gateway on, gRPC"))
    assert header.split(" | ")[1:5] == [
        "gateway on, gRPC door",
        "gateway on, HTTP door",
        "gateway off, gRPC door",
        "gateway off, HTTP door",
    ]
    assert "## Issue 20 targets: the OpenAI HTTP door, as ratios from this run" in markdown
    # Without the HTTP door's figures the section says what it needs instead of failing.
    run = _run()
    assert report.http_door_targets_section(run) == [
        "(needs the gateway's gRPC and HTTP door figures from one run: gateway-on, gateway-on-http)"
    ]
    assert "## Issue 20 targets" in report.render(run)


def test_saturated_runs_show_how_busy_each_core_was() -> None:
    run = _doors()
    run["targets"]["gateway-on-http"]["stream_saturated"]["cores_busy"] = [0.99, 0.66]
    lines = report.render(run).splitlines()
    streaming = lines[lines.index("## Streaming (16 one-word tokens per reply)") :]
    assert _row(streaming, "core 0 busy (load generator, upstream)")[1:3] == ["—", "99%"]
    assert _row(streaming, "core 1 busy (the server)")[1:3] == ["—", "66%"]


def test_token_steps_show_each_target_per_token_and_the_ratio_to_the_forwarder() -> None:
    def figures(token: int, call: int) -> dict[str, int]:
        return {"per_token": token, "unary_per_call": call}

    steps = [
        {
            "label": "before",
            "commit": "abc1234",
            "figures": {
                "gateway-grpc": figures(300_000, 2_200_000),
                "gateway-http": figures(150_000, 1_900_000),
                "forwarder": figures(200_000, 1_800_000),
            },
        },
        # A step that counted the gateway only: the forwarder and the ratio are missing, not zero.
        {
            "label": "gateway only",
            "commit": "def5678",
            "figures": {"gateway-grpc": figures(120_000, 2_100_000)},
        },
    ]
    lines = report.token_steps_table(steps).splitlines()
    assert _row(lines, "before") == [
        "before",
        "abc1234",
        "300.0 k / 2,200.0 k",
        "150.0 k / 1,900.0 k",
        "200.0 k / 1,800.0 k",
        "1.50",
    ]
    assert _row(lines, "gateway only")[2:] == ["120.0 k / 2,100.0 k", "— / —", "— / —", "—"]
    assert report.token_steps_section([]) == []


def test_the_transport_comparison_appears_only_when_recorded() -> None:
    assert report.transports_section(None) == []
    lines = report.transports_section(
        {"date": "today", "load": "1 / 1 / 1", "table": "| a |", "notes": ["first", "second"]}
    )
    assert lines[-4:] == ["", "first", "", "second"]
    assert "| a |" in lines
