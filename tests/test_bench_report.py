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
