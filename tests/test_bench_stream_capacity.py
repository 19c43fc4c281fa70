"""bench/stream_capacity.py's table: why a step did not hold, in the load client's order."""

from __future__ import annotations

from typing import Any

from bench import stream_capacity


def _step(k: int, *, failed: int = 0, gap_p99: float = 1.0, flowing: float = 1.0) -> dict[str, Any]:
    return {
        "k": k,
        "streams_failed": failed,
        "added_gap_p50_ms": 0.0,
        "added_gap_p99_ms": gap_p99,
        "flowing": flowing,
        "tokens_per_s": flowing * k * 50,
        "cpu_us_per_token": 100.0,
        "ttft_p99_ms": 4039.0,
        "rss_mib": 180.0,
        "held": False,
    }


def test_a_step_whose_streams_wait_to_start_is_said_to_break_so() -> None:
    """A target whose upstream pool admits 100 streams relays 100 streams' tokens at K=200 with no
    gap stretched: the table says the step broke because streams waited, not on a gap."""
    held = {**_step(100), "held": True}
    row = stream_capacity._row("gateway-http", stream_capacity.summary([held, _step(200, flowing=0.5)]))
    assert "| 100 |" in row
    assert "K=200: 50% of its tokens/s (streams waiting to start, TTFT p99 4039 ms)" in row


def test_failures_then_gaps_come_first() -> None:
    held = {**_step(50), "held": True}
    failed = stream_capacity._row("t", stream_capacity.summary([held, _step(60, failed=3, flowing=0.5)]))
    assert "K=60: 3 failed" in failed
    gap = stream_capacity._row("t", stream_capacity.summary([held, _step(60, gap_p99=9.1, flowing=0.5)]))
    assert "K=60: gap p99 9.1 ms" in gap


def test_a_gap_broken_while_the_host_stole_the_cores_says_so() -> None:
    held = {**_step(50), "held": True, "steal_pct": 0.0}
    row = stream_capacity._row(
        "t", stream_capacity.summary([held, {**_step(60, gap_p99=8.0), "steal_pct": 41.7}])
    )
    assert "K=60: gap p99 8.0 ms (steal 42%)" in row
    assert row.split(" | ")[7] == "0"  # the held step's steal
