"""bench/report.py's reading of a run against the issue's reference machine and its targets."""

from __future__ import annotations

from typing import Any

import pytest

from bench import report, same_run


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
    # The targets themselves stay the issue's strict reading.
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


def _stamped(run: dict[str, Any], run_id: str, *parts: str) -> dict[str, Any]:
    """`run` with `parts` stamped as measured by the run `run_id` (what bench/run.py writes)."""
    runs = run.setdefault("runs", {})
    for part in parts:
        runs[part] = {"run_id": run_id, "date": "2026-12-07 10:00 UTC", "commit": "abc1234"}
    return run


MAIN_PARTS = ("targets", "upstream", "echo", "scaling")


def _compare(gateway_rps: float, http_rps: float, litellm_rps: float) -> dict[str, Any]:
    """The `litellm` part `make bench-compare` writes: LiteLLM beside the gateway and the forwarder."""

    def side(rps: float) -> dict[str, Any]:
        return {
            "unary_saturated": {"rps": rps, "cpu_ms_per_call": 1000 / rps},
            "stream_saturated": {"rps": rps / 4},
        }

    return {
        "version": "1.0",
        "command": "litellm --config x",
        "sides": {
            "upstream": {"unary_c1": {"p50_ms": 0.2}},
            "gateway-on": side(gateway_rps),
            "gateway-on-http": side(http_rps),
            "forwarder": side(gateway_rps * 0.9),
            "litellm": side(litellm_rps),
        },
    }


def test_http_door_against_litellm_only_when_it_was_measured() -> None:
    label = "HTTP door saturated calls/s per core ≥ 8x LiteLLM's"
    run = _stamped(_doors(), "main", *MAIN_PARTS)
    assert _row(report.http_door_targets_section(run), label)[1:] == [
        "LiteLLM not measured (`make bench-compare`)",
        "—",
    ]
    # bench-compare's own figures: its HTTP door (400), not the main run's (460), against LiteLLM's.
    run["litellm"] = _compare(gateway_rps=420.0, http_rps=400.0, litellm_rps=50.0)
    _stamped(run, "compare", "litellm")
    assert _row(report.http_door_targets_section(run), label)[1:] == ["400 vs 50.00 calls/s: 8.0x", "yes"]
    run["litellm"] = _compare(gateway_rps=420.0, http_rps=400.0, litellm_rps=60.0)
    assert _row(report.http_door_targets_section(run), label)[2] == "NO"
    run["litellm"] = {"error": "the LiteLLM proxy exited"}
    assert _row(report.http_door_targets_section(run), label)[2] == "—"


def test_litellm_merged_from_another_run_gets_no_ratio() -> None:
    """LiteLLM's figures alone (as `make bench-compare` merged them before it measured the gateway
    beside it), from another run than the gateway's: no ratio, wherever the report would print one."""
    run = _stamped(_doors(), "main", *MAIN_PARTS)
    run["litellm"] = {"unary_saturated": {"rps": 50.0}, "stream_saturated": {"rps": 20.0}}
    _stamped(run, "an earlier day", "litellm")
    refused = "not measured in the same run (targets: main, litellm: an earlier day)"
    label = "HTTP door saturated calls/s per core ≥ 8x LiteLLM's"
    assert _row(report.http_door_targets_section(run), label)[1:] == [refused, "—"]
    assert _row(report.targets_section(run), "saturated calls/s ≥ 8x LiteLLM's (per worker)")[1:] == [
        refused,
        "—",
    ]
    # Unstamped (written before runs had ids): not known to be the main run's either.
    del run["runs"]["litellm"]
    assert "not measured in the same run" in _row(report.http_door_targets_section(run), label)[1]
    # The same figures stamped as the main run's own: the ratios are printed.
    _stamped(run, "main", "litellm")
    assert _row(report.http_door_targets_section(run), label)[1:] == ["460 vs 50.00 calls/s: 9.2x", "yes"]
    assert _row(report.targets_section(run), "saturated calls/s ≥ 8x LiteLLM's (per worker)")[1:] == [
        "10.0x (see LiteLLM below)",
        "yes",
    ]


def test_litellm_ratios_come_from_the_compare_part_only() -> None:
    run = _stamped(_doors(), "main", *MAIN_PARTS)
    run["litellm"] = _compare(gateway_rps=420.0, http_rps=400.0, litellm_rps=50.0)
    _stamped(run, "compare", "litellm")
    # 420 / 50, not the main run's 500 / 50.
    assert _row(report.targets_section(run), "saturated calls/s ≥ 8x LiteLLM's (per worker)")[1:] == [
        "8.4x (see LiteLLM below)",
        "yes",
    ]
    section = "\n".join(report.litellm_section(run)).splitlines()
    assert section[3].startswith("Run `compare`: measured 2026-12-07 10:00 UTC at commit abc1234")
    assert _row(section, "gateway on, HTTP door")[1:] == ["8.0x", "8.0x"]
    assert _row(section, "minimal forwarder")[1:] == ["7.6x", "7.6x"]
    assert _row(section, "saturated calls/s")[1:] == ["420", "400", "378", "—", "50.00"]


def test_the_ratio_gate_refuses_figures_of_different_or_unknown_runs() -> None:
    run = _stamped({"targets": {}, "echo": {}, "litellm": {}}, "one", "targets", "echo")
    assert same_run.ratio(run, ("targets", 3.0), ("echo", 1.5)) == 2.0
    # Figures of one part always come from one invocation, stamped or not.
    assert same_run.ratio(run, ("litellm", 3.0), ("litellm", 1.5)) == 2.0
    with pytest.raises(same_run.NotSameRunError, match=r"targets: one, litellm: unknown run"):
        same_run.ratio(run, ("targets", 3.0), ("litellm", 1.5))
    _stamped(run, "two", "echo")
    with pytest.raises(same_run.NotSameRunError, match=r"targets: one, echo: two"):
        same_run.ratio(run, ("targets", 3.0), ("echo", 1.5))
    assert same_run.runs_line(run, "targets", "echo", "litellm", "scaling") == (
        "Figures from run `one` (targets); run `two` (echo); no run id recorded (litellm). "
        "A row that needs figures of two different runs prints no ratio."
    )
    # Results written before runs had ids: the main run's parts were written together.
    assert same_run.ratio({"targets": {}, "echo": {}}, ("targets", 3.0), ("echo", 1.5)) == 2.0


def test_interleaved_rounds_merged_from_another_run_subtract_their_own_upstream() -> None:
    run = _stamped(_run(), "main", *MAIN_PARTS)
    label = "(not a target) the same, medians of interleaved rounds"
    rounds = {"gateway-on": {"p50_ms": [3.0, 3.3, 3.1]}, "forwarder": {"p50_ms": [2.8, 3.0, 2.9]}}
    run["c1_interleaved"] = {"rounds": 3, "seconds": 5} | rounds
    _stamped(run, "later", "c1_interleaved")
    # Against the main run's upstream (0.2 ms): refused.
    assert _row(report.targets_section(run), label)[1].startswith(
        "not measured in the same run (c1_interleaved: later, upstream: main)"
    )
    # With the upstream measured in the same rounds (median 0.4 ms): 3.1 - 0.4 vs 2.9 - 0.4.
    run["c1_interleaved"]["upstream"] = {"p50_ms": [0.3, 0.4, 0.5]}
    assert (
        _row(report.targets_section(run), "(not a target) the same, medians of 3 interleaved rounds of 5 s")[
            1
        ]
        == "2.70 vs 2.50 + 0.3 ms: holds"
    )


def _scaling() -> dict[str, Any]:
    def workers(rps: float, cores: float, tokens: float, stream_cores: float) -> dict[str, Any]:
        stream = {"rps": tokens / 16, "tokens_per_s": tokens, "gateway_cores": stream_cores}
        return {"rps": rps, "gateway_cores": cores, "upstream_cores": 0.1, "ghz_cores": 0.4, "stream": stream}

    return {
        "cores": 2,
        "workers_1": workers(500.0, 1.0, 8000.0, 1.0),
        "workers_2": workers(700.0, 1.5, 10000.0, 1.25),
        "ratio": 1.4,
    }


def test_workers_are_judged_per_gateway_core_second_for_calls_and_tokens() -> None:
    run = _stamped(_run() | {"scaling": _scaling()}, "main", *MAIN_PARTS)
    section = report.scaling_section(run)
    # 700 / 1.5 = 467 against 500 calls per core-second; 10,000 / 1.25 = 8,000 against 8,000 tokens.
    calls = "calls per gateway core-second with 2 workers ≥ 90% of 1 worker's (unary calls)"
    tokens = "tokens per gateway core-second with 2 workers ≥ 90% of 1 worker's (streamed tokens)"
    assert _row(section, calls)[1:] == ["467 vs 500: 93%", "yes"]
    assert _row(section, tokens)[1:] == ["8,000 vs 8,000: 100%", "yes"]
    assert _row(section, "streams: tokens per gateway core-second")[1:] == ["8,000", "8,000"]
    run["scaling"]["workers_2"]["stream"]["gateway_cores"] = 1.5
    assert _row(report.scaling_section(run), tokens)[1:] == ["6,667 vs 8,000: 83%", "NO"]
    # A run from before streams were measured keeps its unary figures and says what it lacks.
    del run["scaling"]["workers_1"]["stream"]
    assert _row(report.issue25_targets_section(run), tokens)[1:] == ["not measured in this run", "—", "—"]


def test_issue25_targets_are_ratios_of_one_run() -> None:
    run = _run()
    run["echo"]["unary_saturated"]["cpu_ms_per_call"] = 0.5
    run["targets"]["gateway-on"]["unary_saturated"]["cpu_ms_per_call"] = 1.6
    run["targets"]["forwarder"]["unary_saturated"]["cpu_ms_per_call"] = 2.4
    run["scaling"] = _scaling()
    _stamped(run, "main", *MAIN_PARTS)
    rows = report.issue25_targets_section(run)
    cpu = "CPU per unary call, features on, ≤ 3.5x the bare echo server's"
    assert _row(rows, cpu)[1:] == ["1.60 vs 0.50 ms (saturated)", "3.20x", "yes"]
    # 1000 / 1.6 = 625 against 1000 / 2.4 = 417 calls per CPU-second.
    per_core = "saturated calls/s per core ≥ 1.3x the minimal forwarder's"
    assert _row(rows, per_core)[1:] == [
        "625 vs 417 calls per CPU-second (370 vs 392 calls/s)",
        "1.50x",
        "yes",
    ]
    assert _row(rows, "calls per gateway core-second with 2 workers ≥ 90% of 1 worker's (unary calls)")[
        1:
    ] == [
        "467 vs 500",
        "93%",
        "yes",
    ]
    run["targets"]["gateway-on"]["unary_saturated"]["cpu_ms_per_call"] = 1.8
    assert _row(report.issue25_targets_section(run), cpu)[2:] == ["3.60x", "NO"]
    # The echo server merged from another run: its figure is shown, the ratio is not.
    _stamped(run, "another day", "echo")
    assert _row(report.issue25_targets_section(run), cpu)[1:] == [
        "1.80 vs 0.50 ms (saturated)",
        "not measured in the same run (targets: main, echo: another day)",
        "—",
    ]
    assert "## Issue 25 targets, as ratios from this run" in report.render(run)


def test_the_machine_section_says_which_run_measured_each_part() -> None:
    run = _stamped(_run(), "main", *MAIN_PARTS)
    run["litellm"] = _compare(gateway_rps=420.0, http_rps=400.0, litellm_rps=50.0)
    _stamped(run, "compare", "litellm")
    lines = report.render(run).splitlines()
    assert _row(lines, "the bare echo server")[2].startswith("Run `main`: measured 2026-12-07 10:00 UTC")
    assert _row(lines, "LiteLLM beside the gateway and the forwarder")[1:3] == [
        "`make bench-compare`",
        "Run `compare`: measured 2026-12-07 10:00 UTC at commit abc1234 (server changes: ?), "
        "load average ? before, ? after.",
    ]


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
    section = report.doors_interleaved_section(run)
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
        # per_token (the idle rate left in) is not what the table shows
        return {"per_token": 1, "per_token_less_idle": token, "unary_per_call": call}

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


def test_a_new_main_run_keeps_the_parts_other_commands_merged_in() -> None:
    """`make bench` after `make bench-compare`, `bench-ledger` or the transports table: their
    sections stay, with their own stamps, so no ratio joins them to the new run."""
    from bench.run import keep_merged_parts  # noqa: PLC0415 (run imports the harness's tools)

    earlier = {
        "transports": {"table": "| what |"},
        "ledger_cost": {"table": "| ledger |"},
        "targets": {"old": {}},
        "runs": {"ledger_cost": {"run_id": "old-ledger"}, "targets": {"run_id": "old-main"}},
    }
    results = {"targets": {"new": {}}, "runs": {"targets": {"run_id": "new-main"}}}
    keep_merged_parts(earlier, results)
    assert results["transports"] == {"table": "| what |"}
    assert results["ledger_cost"] == {"table": "| ledger |"}
    assert results["targets"] == {"new": {}}
    assert results["runs"] == {"targets": {"run_id": "new-main"}, "ledger_cost": {"run_id": "old-ledger"}}
    assert same_run.run_of(results, "ledger_cost") != same_run.run_of(results, "targets")


def test_item_3_is_judged_again_on_interleaved_medians() -> None:
    """The echo server, the gateway and the forwarder saturated in turn: the ratios of their
    medians, beside the main run's single figures."""
    run = _run()
    _stamped(run, "main", *MAIN_PARTS)
    assert not any("interleaved rounds" in line for line in report.issue25_targets_section(run))
    run["unary_interleaved"] = {
        "rounds": 3,
        "seconds": 12,
        "echo": {"cpu_ms_per_call": [0.40, 0.50, 0.45], "rps": [2400, 2000, 2200]},
        "gateway-on": {"cpu_ms_per_call": [1.50, 1.70, 1.60], "rps": [600, 560, 580]},
        "forwarder": {"cpu_ms_per_call": [2.20, 2.00, 2.10], "rps": [440, 480, 460]},
    }
    _stamped(run, "main", "unary_interleaved")
    rows = report.issue25_targets_section(run)
    # 1.60 / 0.45 = 3.56; 1000 / 1.6 = 625 against 1000 / 2.1 = 476 calls per CPU-second.
    assert _row(rows, "CPU per unary call ≤ 3.5x the echo server's, medians of 3 interleaved rounds")[1:] == [
        "1.60 vs 0.45 ms (gateway per round: 1.50, 1.70, 1.60)",
        "3.56x",
        "NO",
    ]
    assert _row(rows, "calls per CPU-second ≥ 1.3x the forwarder's, medians of 3 interleaved rounds")[1:] == [
        "625 vs 476",
        "1.31x",
        "yes",
    ]
