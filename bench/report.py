"""bench/RESULTS.md from the figures of one run (bench/results.json)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench import design_table, same_run
from bench.same_run import NotSameRunError

COLUMNS = (
    "gateway-on",
    "gateway-on-http",
    "gateway-off",
    "gateway-off-http",
    "forwarder",
    "forwarder-aiohttp",
    "upstream",
    "litellm",
)
# The main run's tables: LiteLLM is measured by `make bench-compare`, another invocation, so its
# figures have their own table beside the gateway and the forwarder measured with it.
MAIN_COLUMNS = COLUMNS[:-1]
# The gateway's columns name their door: gRPC (ghz, the stream probe's grpc mode) or the OpenAI HTTP
# door (hey and the probe's http mode, as LiteLLM and the upstream are driven), one process for both.
HEADINGS = {
    "gateway-on": "gateway on, gRPC door",
    "gateway-on-http": "gateway on, HTTP door",
    "gateway-off": "gateway off, gRPC door",
    "gateway-off-http": "gateway off, HTTP door",
    "forwarder": "minimal forwarder",
    "forwarder-aiohttp": "forwarder, gateway's pool",
    "upstream": "upstream direct",
    "litellm": "LiteLLM proxy (1 worker)",
}

Getter = Callable[[dict[str, Any]], float | str | None]


def dig(figures: dict[str, Any], *path: str) -> Any:
    value: Any = figures
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def fmt(value: float | str | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def columns(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = dict(results.get("targets", {}))
    if "upstream" in results:
        found["upstream"] = results["upstream"]
    return {name: found[name] for name in MAIN_COLUMNS if name in found}


def table(cols: dict[str, dict[str, Any]], rows: list[tuple[str, Getter]]) -> str:
    names = list(cols)
    lines = [
        "| figure | " + " | ".join(HEADINGS[n] for n in names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for label, get in rows:
        cells = []
        for name in names:
            try:
                cells.append(fmt(get(cols[name])))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def busy(scenario: str, core: int) -> Getter:
    """A core's busy share during a saturated run, in percent (a whole core busy while the server's
    is not: the load side bounded the figure)."""

    def get(f: dict[str, Any]) -> str | None:
        shares = dig(f, scenario, "cores_busy")
        return f"{shares[core]:.0%}" if shares and core < len(shares) else None

    return get


def minus(value: Any, base: Any) -> float | None:
    if value is None or base is None:
        return None
    return float(value) - float(base)


def machine_section(results: dict[str, Any]) -> list[str]:
    """The machine, the tools and the load average around the run."""
    machine = results.get("machine", {})
    profile = results.get("profile", {})
    out = ["", "## Machine and run", ""]
    for key in (
        "date",
        "cpu",
        "cores",
        "kernel",
        "python",
        "grpcio",
        "llmgateway",
        "ghz",
        "hey",
        "go",
        "pinned",
        "python_speed",
        "commit",
        "server_changes",
    ):
        out.append(f"- {key}: {machine.get(key, '?')}")
    out.append(
        f"- load average before / after: {' '.join(machine.get('loadavg_before', []))} / "
        f"{' '.join(machine.get('loadavg_after', []))}"
    )
    out.append(f"- profile: {profile}")
    out.append(f"- wall time: {results.get('seconds', '?')} s")
    out.append(
        "- the load average counts every process on the machine: what else runs shares both cores, "
        "so compare the columns of one run (measured minutes apart), not separate runs"
    )
    out.append(
        "- placement: each server under test alone on core 1 (`taskset -c 1`, `--workers 1`); "
        "ghz / hey / the stream probe and the upstream (bench/static_upstream, Go) on core 0"
    )
    return [*out, *runs_section(results)]


# Each part of results.json, the section of this report it feeds and the command that measures it.
PARTS = (
    ("upstream", "the upstream-direct column", "`make bench`"),
    ("echo", "the bare echo server", "`make bench`"),
    ("targets", "the main tables (gateway, forwarder)", "`make bench`"),
    ("scaling", "Scaling", "`make bench`"),
    ("c1_interleaved", "concurrency 1, interleaved", "`make bench`, `python -m bench.run --c1`"),
    ("doors_interleaved", "the two doors, interleaved", "`make bench`, `python -m bench.run --doors`"),
    (
        "unary_interleaved",
        "echo, gateway and forwarder, interleaved",
        "`make bench`, `python -m bench.run --unary`",
    ),
    ("litellm", "LiteLLM beside the gateway and the forwarder", "`make bench-compare`"),
    ("instructions", "instructions per call", "`make bench-instructions`"),
    ("ledger_cost", "the spend ledger's cost", "`make bench-ledger`"),
)


def runs_section(results: dict[str, Any]) -> list[str]:
    """Which run measured each part (bench/same_run.py): a ratio is printed only between figures of
    one run; figures of two runs are two machines' as far as this report can tell."""
    present = [(part, what, how) for part, what, how in PARTS if part in results]
    if not present:
        return []
    out = [
        "",
        "### Which run measured each part",
        "",
        "Every ratio in this report is between figures of one run (one invocation, minutes apart); "
        'between parts of different runs the report prints "not measured in the same run" instead.',
        "",
        "| part | measured by | run |",
        "| --- | --- | --- |",
    ]
    for part, what, how in present:
        out.append(f"| {what} | {how} | {same_run.stamp_line(results, part)} |")
    return out


def ledger_section(ledger: dict[str, Any] | None) -> list[str]:
    """The spend ledger on vs off (bench/ledger_cost.py), when measured."""
    if ledger is None:
        return []
    return [
        "",
        "## The spend ledger's cost (`make bench-ledger`, bench/ledger_cost.py)",
        "",
        f"Measured {ledger.get('date', '?')}, load average before: {ledger.get('load', '?')} "
        "(a run of its own: bench/ledger_cost.py compares ledger on and off within it).",
        "",
        ledger["table"],
    ]


def render(
    results: dict[str, Any],
    steps: list[dict[str, Any]] | None = None,
    token_steps: list[dict[str, Any]] | None = None,
) -> str:
    cols = columns(results)
    up = results.get("upstream", {})

    def added(*path: str) -> Getter:
        return lambda f: None if f is up else minus(dig(f, *path), dig(up, *path))

    out = ["# Benchmark results", ""]
    out.append(
        "Generated by `make bench` (bench/run.py); do not edit by hand. How each figure is measured: "
        "bench/README.md. Raw figures: bench/results.json."
    )
    out += machine_section(results)

    commands = results.get("commands", {})
    if commands:
        out += ["", "Commands (one example of each kind; ports are picked at run time):", "", "```"]
        out += [f"# {label}\n{command}" for label, command in commands.items()]
        out.append("```")
    out += ["", "## Unary calls, closed loop, concurrency 1 (latency in ms)", ""]
    out += [same_run.stamp_line(results, "targets"), ""]
    out.append(
        "gRPC columns: `ChatService/Chat` by ghz. HTTP door and upstream columns: the same "
        "request as OpenAI JSON, `POST /v1/chat/completions` by hey over HTTP/1.1 keep-alive (one "
        "connection per concurrent caller). The HTTP door is the same gateway process as the gRPC "
        "door beside it, measured right after it."
    )
    out.append("")
    out.append(
        table(
            cols,
            [
                ("p50", lambda f: dig(f, "unary_c1", "p50_ms")),
                ("p99", lambda f: dig(f, "unary_c1", "p99_ms")),
                ("added p50 (vs upstream direct)", added("unary_c1", "p50_ms")),
                ("added p99 (vs upstream direct)", added("unary_c1", "p99_ms")),
                ("calls/s", lambda f: dig(f, "unary_c1", "rps")),
                ("errors", lambda f: dig(f, "unary_c1", "errors")),
            ],
        )
    )
    out += ["", "## Unary calls, saturated (closed loop, concurrency 32, one core)", ""]
    out.append(
        table(
            cols,
            [
                ("calls/s", lambda f: dig(f, "unary_saturated", "rps")),
                ("p50 ms", lambda f: dig(f, "unary_saturated", "p50_ms")),
                ("p99 ms", lambda f: dig(f, "unary_saturated", "p99_ms")),
                ("CPU ms per call (server)", lambda f: dig(f, "unary_saturated", "cpu_ms_per_call")),
                ("core 0 busy (load generator, upstream)", busy("unary_saturated", 0)),
                ("core 1 busy (the server)", busy("unary_saturated", 1)),
                ("errors", lambda f: dig(f, "unary_saturated", "errors")),
            ],
        )
    )
    bound = results.get("p99_bound_ms", 50.0)
    out += ["", "## Unary `Chat`, fixed rate (ghz --rps, steps at 50/70/85/95% of saturated)", ""]

    def within_bound(f: dict[str, Any]) -> float | None:
        steps = f.get("unary_fixed_rate")
        if not steps:
            return None
        met = [s["rps"] for s in steps if s["p99_ms"] <= bound and s["errors"] == 0]
        return max(met, default=0.0)

    def step(index: int) -> Getter:
        def get(f: dict[str, Any]) -> str | None:
            steps = f.get("unary_fixed_rate")
            if not steps or index >= len(steps):
                return None
            s = steps[index]
            return f"{s['target_rps']}/s → {s['rps']:.0f}/s, p99 {s['p99_ms']:.2f} ms"

        return get

    out.append(
        table(
            cols,
            [
                (f"calls/s with p99 ≤ {bound:g} ms, no errors (0: no step met it)", within_bound),
                *[(f"step {i + 1}", step(i)) for i in range(4)],
            ],
        )
    )
    out += ["", "## Streaming (16 one-word tokens per reply)", ""]
    out.append(
        "gRPC columns: `ChatStream` (the probe's grpc mode; saturated by ghz). HTTP door and upstream "
        'columns: `"stream": true` over SSE (the probe\'s http mode; saturated by hey, which '
        "reads each event stream to its end)."
    )
    out.append("")
    out.append(
        table(
            cols,
            [
                ("time to first token p50 ms", lambda f: dig(f, "stream_fast", "ttft_p50_ms")),
                ("time to first token p99 ms", lambda f: dig(f, "stream_fast", "ttft_p99_ms")),
                ("added time to first token p50 ms", added("stream_fast", "ttft_p50_ms")),
                ("added time to first token p99 ms", added("stream_fast", "ttft_p99_ms")),
                ("relay rate, one stream (tokens/s)", lambda f: dig(f, "stream_fast", "tokens_per_s")),
                (
                    "text messages per stream (16 = no coalescing)",
                    lambda f: dig(f, "stream_fast", "tokens_per_stream"),
                ),
                ("paced upstream (2 ms/token): gap p50 ms", lambda f: dig(f, "stream_paced", "gap_p50_ms")),
                ("paced upstream: gap p99 ms", lambda f: dig(f, "stream_paced", "gap_p99_ms")),
                ("added gap between tokens p99 ms", added("stream_paced", "gap_p99_ms")),
                ("saturated streams/s (concurrency 32)", lambda f: dig(f, "stream_saturated", "rps")),
                ("saturated relay rate (tokens/s)", lambda f: dig(f, "stream_saturated", "tokens_per_s")),
                ("CPU ms per stream (server)", lambda f: dig(f, "stream_saturated", "cpu_ms_per_call")),
                ("core 0 busy (load generator, upstream)", busy("stream_saturated", 0)),
                ("core 1 busy (the server)", busy("stream_saturated", 1)),
                ("errors (saturated)", lambda f: dig(f, "stream_saturated", "errors")),
            ],
        )
    )
    out += ["", "## Memory (RSS, MiB, the server process)", ""]
    out.append(
        table(
            cols,
            [
                ("idle, after start", lambda f: dig(f, "rss_idle_mb")),
                ("after all the load", lambda f: dig(f, "rss_after_load_mb")),
                ("soak: calls/s (50% of saturated)", lambda f: dig(f, "soak", "rps")),
                ("soak: start (first 10% of samples)", lambda f: dig(f, "soak", "rss_start_mb")),
                ("soak: end (last 10% of samples)", lambda f: dig(f, "soak", "rss_end_mb")),
                ("soak: growth", lambda f: dig(f, "soak", "rss_growth_mb")),
                ("soak: seconds", lambda f: dig(f, "soak", "seconds")),
            ],
        )
    )
    out += [
        *instructions_section(results),
        *scaling_section(results),
        *reference_section(results),
    ]
    out += ["", "## Issue 8 targets, as ratios from this run", ""]
    out += [same_run.runs_line(results, "targets", "upstream", "scaling", "c1_interleaved", "litellm"), ""]
    out += targets_section(results)
    out += ["", "## Issue 20 targets: the OpenAI HTTP door, as ratios from this run", ""]
    out += [same_run.runs_line(results, "targets", "doors_interleaved", "litellm"), ""]
    out += http_door_targets_section(results)
    out += [*doors_interleaved_section(results), *design_table.render(results.get("design"))]
    out += ["", "## Issue 25 targets, as ratios from this run", ""]
    out += [same_run.runs_line(results, "targets", "echo", "scaling", "unary_interleaved"), ""]
    out += issue25_targets_section(results)
    out += litellm_section(results)
    out += [*steps_section(steps or []), *token_steps_section(token_steps or [])]
    out += [*ledger_section(results.get("ledger_cost")), *transports_section(results.get("transports"))]
    return "\n".join(out) + "\n"


def litellm_sides(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures of the `litellm` part by side (gateway-on, gateway-on-http, forwarder, upstream,
    litellm); a part merged before `make bench-compare` measured the other sides holds LiteLLM's
    figures alone."""
    part = results.get("litellm")
    if not isinstance(part, dict):
        return {}
    if "sides" in part:
        return dict(part["sides"])
    return {} if "error" in part else {"litellm": part}


def against_litellm(results: dict[str, Any], side: str, *path: str) -> float:
    """`side`'s figure at `path` over LiteLLM's, both from the `litellm` part when `make
    bench-compare` measured `side` beside LiteLLM, else `side` from the main run: then the gate
    refuses the ratio unless LiteLLM was measured in that same run. KeyError when a figure is absent."""
    sides = litellm_sides(results)
    theirs = dig(sides.get("litellm", {}), *path)
    ours: same_run.Figure = (
        ("litellm", dig(sides[side], *path))
        if side in sides
        else ("targets", dig(results.get("targets", {}), side, *path))
    )
    if ours[1] is None or theirs is None:
        raise KeyError(side if ours[1] is None else "litellm")
    return same_run.ratio(results, ours, ("litellm", theirs))


def litellm_section(results: dict[str, Any]) -> list[str]:
    """`make bench-compare`: LiteLLM's proxy beside the gateway and the minimal forwarder measured in
    the same invocation, and the ratios between them."""
    part = results.get("litellm")
    if part is None:
        return []
    out = ["", "## LiteLLM proxy beside the gateway and the forwarder (`make bench-compare`)", ""]
    out += [same_run.stamp_line(results, "litellm"), ""]
    if "error" in part:
        return [*out, f"LiteLLM was not measured: {part['error']}"]
    sides = litellm_sides(results)
    out.append(
        f"LiteLLM {part.get('version', '?')} on the same upstream, one worker pinned to core 1, with a "
        f"master key, driven over HTTP/1.1 by hey on core 0 (`{part.get('command', '')}`). The gateway "
        "(features on) and the minimal forwarder beside it were measured by the same invocation, "
        "one after the other on the same upstream, with the same placement: the ratios against "
        "LiteLLM are taken from this table only. LiteLLM's idle RSS is after startup; no server here "
        "was soaked."
    )
    if set(sides) == {"litellm"}:
        out += [
            "",
            "This part holds LiteLLM's figures alone (merged before `make bench-compare` measured "
            "the gateway beside it): the ratios against the main run's figures are refused.",
        ]
    up = sides.get("upstream", {})
    cols = {name: sides[name] for name in COLUMNS if name in sides}

    def added(*path: str) -> Getter:
        return lambda f: None if f is up else minus(dig(f, *path), dig(up, *path))

    out += [
        "",
        table(
            cols,
            [
                ("p50 ms at concurrency 1", lambda f: dig(f, "unary_c1", "p50_ms")),
                ("p99 ms at concurrency 1", lambda f: dig(f, "unary_c1", "p99_ms")),
                ("added p50 ms (vs upstream direct)", added("unary_c1", "p50_ms")),
                ("saturated calls/s", lambda f: dig(f, "unary_saturated", "rps")),
                ("CPU ms per call (server)", lambda f: dig(f, "unary_saturated", "cpu_ms_per_call")),
                ("saturated streams/s", lambda f: dig(f, "stream_saturated", "rps")),
                ("CPU ms per stream (server)", lambda f: dig(f, "stream_saturated", "cpu_ms_per_call")),
                ("time to first token p50 ms", lambda f: dig(f, "stream_fast", "ttft_p50_ms")),
                ("time to first token p99 ms", lambda f: dig(f, "stream_fast", "ttft_p99_ms")),
                ("idle RSS MiB", lambda f: dig(f, "rss_idle_mb")),
                ("errors (saturated calls)", lambda f: dig(f, "unary_saturated", "errors")),
            ],
        ),
    ]
    out += ["", "| against LiteLLM's | saturated calls/s | saturated streams/s |", "| --- | ---: | ---: |"]
    for side in ("gateway-on", "gateway-on-http", "forwarder"):
        if side not in sides:
            continue
        cells = []
        for path in (("unary_saturated", "rps"), ("stream_saturated", "rps")):
            try:
                cells.append(f"{against_litellm(results, side, *path):.1f}x")
            except KeyError:
                cells.append("—")
        out.append(f"| {HEADINGS[side]} | {cells[0]} | {cells[1]} |")
    return out


def targets_section(results: dict[str, Any]) -> list[str]:
    targets = results.get("targets", {})
    on, fwd, up = targets.get("gateway-on"), targets.get("forwarder"), results.get("upstream")
    if not (on and fwd and up):
        return ["(needs gateway-on, forwarder and upstream figures from one run)"]
    rows = ["| target | measured | met |", "| --- | --- | --- |"]

    def row(name: str, measured: str, met: bool) -> None:
        rows.append(f"| {name} | {measured} | {'yes' if met else 'NO'} |")

    on_rps = ("targets", on["unary_saturated"]["rps"])
    share = same_run.ratio(results, on_rps, ("targets", fwd["unary_saturated"]["rps"]))
    row("saturated calls/s ≥ 70% of the forwarder's", f"{share:.0%}", share >= 0.7)
    same_pool = targets.get("forwarder-aiohttp")
    if same_pool:
        strict = same_run.ratio(results, on_rps, ("targets", same_pool["unary_saturated"]["rps"]))
        rows.append(
            f"| (not a target) saturated calls/s against the forwarder on the gateway's own pool | {strict:.0%} | — |"
        )
    rows += litellm_row(results)
    base50 = up["unary_c1"]["p50_ms"]
    on50, fwd50 = on["unary_c1"]["p50_ms"] - base50, fwd["unary_c1"]["p50_ms"] - base50
    row("added p50 ≤ forwarder's + 0.3 ms", f"{on50:.2f} vs {fwd50:.2f} + 0.3 ms", on50 <= fwd50 + 0.3)
    rows += c1_interleaved_rows(results, base50)
    on99 = on["unary_c1"]["p99_ms"] - up["unary_c1"]["p99_ms"]
    row("added p99 ≤ 2.5 ms", f"{on99:.2f} ms", on99 <= 2.5)
    # An absolute bound: beside it, what the floor itself adds on this machine (see the section on
    # the issue's reference machine), and the gateway's own share beyond it.
    fwd99 = fwd["unary_c1"]["p99_ms"] - up["unary_c1"]["p99_ms"]
    rows.append(
        f"| (not a target) the minimal forwarder's own added p99 on this machine | {fwd99:.2f} ms "
        f"(the gateway {on99 - fwd99:+.2f} ms beyond it) | — |"
    )
    ttft = on["stream_fast"]["ttft_p50_ms"] - up["stream_fast"]["ttft_p50_ms"]
    row("streaming adds ≤ 1 ms to time to first token (p50)", f"{ttft:.2f} ms", ttft <= 1.0)
    # The forwarder's own gRPC hop already adds more than 1 ms on a small machine, so the same
    # target read against the floor is shown beside it (the target above stays the strict reading).
    fwd_ttft = fwd["stream_fast"]["ttft_p50_ms"] - up["stream_fast"]["ttft_p50_ms"]
    rows.append(
        f"| (not a target) the minimal forwarder's own added time to first token | {fwd_ttft:.2f} ms "
        f"(the gateway {ttft - fwd_ttft:+.2f} ms beyond it) | — |"
    )
    per = on["stream_fast"]["tokens_per_stream"]
    row("streams never coalesce chunks", f"{per:.1f} text messages for 16 tokens", per >= 16)
    row("idle RSS < 100 MB per worker", f"{on['rss_idle_mb']:.0f} MiB", on["rss_idle_mb"] < 100)
    growth = on["soak"]["rss_growth_mb"]
    row(
        f"RSS flat across the soak ({on['soak']['seconds']} s here, 10 min in the issue)",
        f"{growth:+.1f} MiB",
        abs(growth) < 5,
    )
    scaling = results.get("scaling")
    if scaling:
        ratio = scaling["ratio"]
        # Three decimals: 1.695 would print as a "1.70x" that misses 1.7.
        row("throughput with 2 workers ≥ 1.7x one worker", f"{ratio:.3f}x (see Scaling)", ratio >= 1.7)
    else:
        rows.append("| throughput with 2 workers ≥ 1.7x one worker | not measured in this run | — |")
    return rows


def c1_interleaved_rows(results: dict[str, Any], base50: float) -> list[str]:
    """Issue 8's added-p50 target read from the medians of the interleaved concurrency-1 rounds.
    Their added p50 subtracts the median of the upstream-direct p50 of the same rounds; rounds
    measured before they took the upstream's subtract the main run's (`base50`), only when both
    parts are of one run."""
    c1 = results.get("c1_interleaved")
    if not (c1 and "gateway-on" in c1 and "forwarder" in c1):
        return []
    if c1.get("upstream", {}).get("p50_ms"):
        base50 = statistics.median(c1["upstream"]["p50_ms"])
    else:
        try:
            same_run.check(results, "c1_interleaved", "upstream")
        except NotSameRunError as refused:
            return [f"| (not a target) the same, medians of interleaved rounds | {refused} | — |"]
    on_median = statistics.median(c1["gateway-on"]["p50_ms"]) - base50
    fwd_median = statistics.median(c1["forwarder"]["p50_ms"]) - base50
    holds = "holds" if on_median <= fwd_median + 0.3 else "does not hold"
    return [
        f"| (not a target) the same, medians of {c1['rounds']} interleaved rounds of "
        f"{c1['seconds']} s | {on_median:.2f} vs {fwd_median:.2f} + 0.3 ms: {holds} | — |"
    ]


def litellm_row(results: dict[str, Any]) -> list[str]:
    """Issue 8's "≥ 8x LiteLLM's" from `make bench-compare`'s own figures (see against_litellm)."""
    if not litellm_sides(results).get("litellm"):
        return []
    name = "saturated calls/s ≥ 8x LiteLLM's (per worker)"
    try:
        times = against_litellm(results, "gateway-on", "unary_saturated", "rps")
    except NotSameRunError as refused:
        return [f"| {name} | {refused} | — |"]
    return [f"| {name} | {times:.1f}x (see LiteLLM below) | {met_cell(times >= 8)} |"]


# Issue 20's targets for the HTTP door, each against a baseline of the same run.
HTTP_TIMES_LITELLM = 8.0  # saturated calls/s per core, features on, ≥ 8x LiteLLM's
HTTP_SHARE_OF_GRPC = 0.90  # saturated calls/s, ≥ 90% of the gateway's own gRPC door
HTTP_ADDED_P50_MS = 0.5  # added p50 at concurrency 1 within 0.5 ms of the gRPC door's


def http_door_targets_section(results: dict[str, Any]) -> list[str]:
    """Issue 20's three ratios for the OpenAI HTTP door, features on: against LiteLLM's proxy
    (when `make bench-compare` ran) and against the gateway's own gRPC door, with medians of the
    interleaved door rounds beside the single run's figures when they were measured."""
    targets = results.get("targets", {})
    grpc, http = targets.get("gateway-on"), targets.get("gateway-on-http")
    if not (grpc and http):
        return ["(needs the gateway's gRPC and HTTP door figures from one run: gateway-on, gateway-on-http)"]
    rows = ["| target | measured | met |", "| --- | --- | --- |"]

    def row(name: str, measured: str, met: bool | None) -> None:
        rows.append(f"| {name} | {measured} | {'—' if met is None else 'yes' if met else 'NO'} |")

    http_rps = http["unary_saturated"]["rps"]
    sides = litellm_sides(results)
    name = f"HTTP door saturated calls/s per core ≥ {HTTP_TIMES_LITELLM:g}x LiteLLM's"
    if sides.get("litellm"):
        # Both figures from `make bench-compare`'s own invocation when it measured the door too.
        door = sides.get("gateway-on-http", http)
        theirs = sides["litellm"]["unary_saturated"]["rps"]
        try:
            times = against_litellm(results, "gateway-on-http", "unary_saturated", "rps")
            row(
                name,
                f"{fmt(door['unary_saturated']['rps'])} vs {fmt(theirs)} calls/s: {times:.1f}x",
                times >= HTTP_TIMES_LITELLM,
            )
        except NotSameRunError as refused:
            row(name, str(refused), None)
    else:
        row(name, "LiteLLM not measured (`make bench-compare`)", None)
    share = same_run.ratio(results, ("targets", http_rps), ("targets", grpc["unary_saturated"]["rps"]))
    row(
        f"HTTP door saturated calls/s ≥ {HTTP_SHARE_OF_GRPC:.0%} of the gRPC door's",
        f"{fmt(http_rps)} vs {fmt(grpc['unary_saturated']['rps'])} calls/s: {share:.0%}",
        share >= HTTP_SHARE_OF_GRPC,
    )
    # Both added figures subtract the same upstream-direct p50, so their difference is the doors'.
    gap = http["unary_c1"]["p50_ms"] - grpc["unary_c1"]["p50_ms"]
    row(
        f"HTTP door added p50 at concurrency 1 ≤ the gRPC door's + {HTTP_ADDED_P50_MS} ms",
        f"{http['unary_c1']['p50_ms']:.2f} vs {grpc['unary_c1']['p50_ms']:.2f} ms: {gap:+.2f} ms",
        gap <= HTTP_ADDED_P50_MS,
    )
    doors = results.get("doors_interleaved")
    if doors and doors.get("grpc", {}).get("rps") and doors.get("http", {}).get("rps"):
        how = f"medians of {doors['rounds']} interleaved rounds of {doors['seconds']} s in one process"
        median_share = same_run.ratio(
            results,
            ("doors_interleaved", statistics.median(doors["http"]["rps"])),
            ("doors_interleaved", statistics.median(doors["grpc"]["rps"])),
        )
        holds = "holds" if median_share >= HTTP_SHARE_OF_GRPC else "does not hold"
        row(f"(not a target) calls/s against the gRPC door, {how}", f"{median_share:.0%}: {holds}", None)
        median_gap = statistics.median(doors["http"]["p50_ms"]) - statistics.median(doors["grpc"]["p50_ms"])
        holds = "holds" if median_gap <= HTTP_ADDED_P50_MS else "does not hold"
        row(
            f"(not a target) p50 at concurrency 1 against the gRPC door, {how}",
            f"{median_gap:+.2f} ms: {holds}",
            None,
        )
    off_grpc, off_http = targets.get("gateway-off"), targets.get("gateway-off-http")
    if off_grpc and off_http:
        off_share = same_run.ratio(
            results,
            ("targets", off_http["unary_saturated"]["rps"]),
            ("targets", off_grpc["unary_saturated"]["rps"]),
        )
        row("(not a target) the same share with features off", f"{off_share:.0%}", None)
    cpu_http = dig(http, "unary_saturated", "cpu_ms_per_call")
    cpu_grpc = dig(grpc, "unary_saturated", "cpu_ms_per_call")
    if cpu_http and cpu_grpc:
        row(
            "(not a target) CPU ms per saturated call, HTTP door vs gRPC door",
            f"{cpu_http:.2f} vs {cpu_grpc:.2f} ms "
            f"({same_run.ratio(results, ('targets', cpu_http), ('targets', cpu_grpc)):.0%})",
            None,
        )
    ttft_http, ttft_grpc = dig(http, "stream_fast", "ttft_p50_ms"), dig(grpc, "stream_fast", "ttft_p50_ms")
    if ttft_http is not None and ttft_grpc is not None:
        row(
            "(not a target) time to first token p50, HTTP door vs gRPC door",
            f"{ttft_http:.2f} vs {ttft_grpc:.2f} ms ({ttft_http - ttft_grpc:+.2f} ms)",
            None,
        )
    per = dig(http, "stream_fast", "tokens_per_stream")
    if per is not None:
        row(
            "(issue 8's target, through the HTTP door) streams never coalesce chunks",
            f"{per:.1f} text events for 16 tokens",
            per >= 16,
        )
    return rows


def doors_interleaved_section(results: dict[str, Any]) -> list[str]:
    """The interleaved rounds of the gateway's two doors (bench/run.py measure_doors_interleaved)."""
    doors = results.get("doors_interleaved")
    if not doors or not doors.get("grpc", {}).get("rps") or not doors.get("http", {}).get("rps"):
        return []
    out = ["", "## The gateway's two doors, interleaved in one process (features on)", ""]
    out += [same_run.stamp_line(results, "doors_interleaved"), ""]
    out.append(
        f"{doors['rounds']} rounds in one gateway process, each measuring the gRPC door (ghz) and the "
        f"HTTP door (hey) for {doors['seconds']} s at concurrency 1 and then saturated, the order "
        "swapped every round; medians, with every round's figure after them."
    )
    out += ["", "| figure | gRPC door | HTTP door |", "| --- | ---: | ---: |"]
    for label, key in (
        ("p50 ms at concurrency 1", "p50_ms"),
        ("p99 ms at concurrency 1", "p99_ms"),
        ("saturated calls/s", "rps"),
        ("CPU ms per saturated call", "cpu_ms_per_call"),
    ):
        cells = []
        for door in ("grpc", "http"):
            values = doors[door][key]
            rounds = ", ".join(fmt(value) for value in values)
            cells.append(f"{fmt(statistics.median(values))} ({rounds})")
        out.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return out


# The figures issue 8 quotes "for scale", measured on its authors' machine (2 cores, the server
# pinned to one, a C load generator, a static nginx upstream). Each entry: label, the issue's
# figure, the path of the same figure in results.json, and whether bigger is better.
_ECHO, _FWD, _LITELLM = ("echo",), ("targets", "forwarder"), ("litellm", "sides", "litellm")
REFERENCE: tuple[tuple[str, float, tuple[str, ...], bool], ...] = (
    ("bare grpc.aio echo: calls/s, saturated", 3900, (*_ECHO, "unary_saturated", "rps"), True),
    ("bare echo: p50 ms at concurrency 1", 0.26, (*_ECHO, "unary_c1", "p50_ms"), False),
    ("bare echo: p99 ms at concurrency 1", 0.40, (*_ECHO, "unary_c1", "p99_ms"), False),
    ("upstream alone: p50 ms at concurrency 1", 0.07, ("upstream", "unary_c1", "p50_ms"), False),
    ("minimal forwarder: calls/s, saturated", 980, (*_FWD, "unary_saturated", "rps"), True),
    ("minimal forwarder: p50 ms at concurrency 1", 0.95, (*_FWD, "unary_c1", "p50_ms"), False),
    ("minimal forwarder: p99 ms at concurrency 1", 1.56, (*_FWD, "unary_c1", "p99_ms"), False),
    ("minimal forwarder: time to first chunk p50 ms", 2.3, (*_FWD, "stream_fast", "ttft_p50_ms"), False),
    (
        "minimal forwarder: chunks/s relayed, saturated",
        13000,
        (*_FWD, "stream_saturated", "tokens_per_s"),
        True,
    ),
    ("LiteLLM proxy: calls/s per worker, saturated", 90, (*_LITELLM, "unary_saturated", "rps"), True),
    ("LiteLLM proxy: p50 ms at concurrency 1", 11.9, (*_LITELLM, "unary_c1", "p50_ms"), False),
    ("LiteLLM proxy: p99 ms at concurrency 1", 17.1, (*_LITELLM, "unary_c1", "p99_ms"), False),
)


def reference_section(results: dict[str, Any]) -> list[str]:
    """This run's figures beside the ones issue 8 quotes from its reference machine: how much slower
    this machine is for the same kind of server, which is how its absolute targets read here.
    Nothing when the run did not measure the echo server."""
    if "echo" not in results:
        return []
    out = ["", "## This machine against the issue's reference machine", ""]
    out.append(
        'Issue 8 quotes figures measured on a machine "like ours" (2 cores, the server pinned to one, '
        "a C load generator, a static nginx upstream). The same kinds of server measured in this run "
        "(the bare echo server is bench/echo_server.py) show how far this machine is from it; "
        "\"slower by\" is this run's latency over the reference's, or the reference's calls/s over "
        "this run's. The absolute targets (added p99 ≤ 2.5 ms, ≤ 1 ms added to the first token) were "
        "set against the reference machine's floor."
    )
    out += ["", "| figure | issue's reference | this run | slower by |", "| --- | ---: | ---: | ---: |"]
    view = {**results, "litellm": {"sides": litellm_sides(results)}}  # LiteLLM's as bench-compare measured it
    for label, reference, path, bigger_is_better in REFERENCE:
        measured = dig(view, *path)
        if not isinstance(measured, int | float) or measured <= 0:
            out.append(f"| {label} | {fmt(reference)} | — | — |")
            continue
        # Against a fixed figure from another machine, on purpose: not a ratio between runs.
        slower = reference / measured if bigger_is_better else measured / reference
        out.append(f"| {label} | {fmt(reference)} | {fmt(measured)} | {slower:.1f}x |")
    cpu = dig(results, "echo", "unary_saturated", "cpu_ms_per_call")
    if isinstance(cpu, int | float) and cpu > 0:
        out += [
            "",
            f"The echo server used {cpu:.3f} ms of CPU per call when saturated, so by itself it could "
            f"answer about {1000 / cpu:,.0f} calls/s on its core; the calls/s above may be bounded by "
            "ghz, which shares the other core with the upstream.",
        ]
    return out


def instructions_section(results: dict[str, Any]) -> list[str]:
    """Instructions per call from `make bench-instructions`, when it ran (bench/instructions.py)."""
    counted = results.get("instructions")
    if counted is None:
        return []
    out = ["", "## Instructions per call (valgrind, `make bench-instructions`)", ""]
    out += [same_run.stamp_line(results, "instructions"), ""]
    if "error" in counted:
        return [*out, f"Not counted: {counted['error']}."]
    out.append(
        f"Counted under callgrind at commit {counted.get('commit', '?')} "
        f"(server changes: {counted.get('server_changes', '?')}), every thread of the server, "
        f"{counted['calls']} calls and {counted['streams']} streams made one at a time after a "
        "warm-up. The same code gives about the same count on every run (within 0.2% between runs "
        "minutes apart, 1.1% between days here), unlike the timed figures above; fewer instructions "
        "is less work, though not always less time."
    )
    out.append("")
    counts = {name: counted[name] for name in COLUMNS if name in counted}
    out.append(
        table(
            counts,
            [
                ("`Chat`, instructions per call", lambda f: dig(f, "chat_per_call")),
                ("`ChatStream` (16 tokens), instructions per stream", lambda f: dig(f, "stream_per_call")),
            ],
        )
    )
    return out


# Issue 25 item 5: calls and tokens per gateway core-second with 2 workers against 1.
WORKERS_EFFICIENCY = 0.90


def per_core_second(scaling: dict[str, Any], workers: int, kind: str) -> float | None:
    """Calls (kind "calls") or relayed tokens (kind "tokens") per second of gateway CPU, all its
    processes, with `workers` workers; None when that load was not measured."""
    figures = scaling.get(f"workers_{workers}", {})
    if kind == "tokens":
        figures = figures.get("stream", {})
    rate = figures.get("tokens_per_s" if kind == "tokens" else "rps")
    cores = figures.get("gateway_cores")
    return rate / cores if rate is not None and cores else None


def workers_rows(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The issue 25 item 5 targets: (target, measured, met) for calls and for tokens."""
    scaling = results.get("scaling") or {}
    rows: list[tuple[str, str, bool | None]] = []
    for kind, unit in (("calls", "unary calls"), ("tokens", "streamed tokens")):
        name = (
            f"{kind} per gateway core-second with 2 workers ≥ {WORKERS_EFFICIENCY:.0%} of 1 worker's ({unit})"
        )
        one, two = per_core_second(scaling, 1, kind), per_core_second(scaling, 2, kind)
        if one is None or two is None:
            rows.append((name, "not measured in this run", None))
            continue
        share = same_run.ratio(results, ("scaling", two), ("scaling", one))
        rows.append((name, f"{fmt(two)} vs {fmt(one)}: {share:.0%}", share >= WORKERS_EFFICIENCY))
    return rows


def scaling_section(results: dict[str, Any]) -> list[str]:
    scaling = results.get("scaling")
    if not scaling:
        return []
    out = ["", "## Scaling: 1 and 2 workers (features on, nothing pinned)", ""]
    out += [same_run.stamp_line(results, "scaling"), ""]
    out.append(
        f"ghz closed loop, concurrency 64 over 8 connections (SO_REUSEPORT spreads connections), on a "
        f"machine with {scaling['cores']} cores that also runs ghz and the upstream: their CPU use, in "
        "cores, is shown because it is what a second worker cannot have. Unary `Chat` calls, then "
        "`ChatStream` (16 tokens a stream) against the same gateway; the gateway's cores are the "
        "utime + stime of all its processes (supervisor and workers) over each window."
    )
    out += ["", "| figure | 1 worker | 2 workers |", "| --- | ---: | ---: |"]
    one, two = scaling["workers_1"], scaling["workers_2"]
    for label, key in (
        ("calls/s", "rps"),
        ("p50 ms", "p50_ms"),
        ("p99 ms", "p99_ms"),
        ("errors", "errors"),
        ("cores used by the gateway, all processes", "gateway_cores"),
        ("cores used by the upstream", "upstream_cores"),
        ("cores used by ghz", "ghz_cores"),
        ("RSS of the gateway, all processes (MiB)", "rss_mb"),
    ):
        out.append(f"| {label} | {fmt(one.get(key))} | {fmt(two.get(key))} |")
    out.append(
        f"| calls per gateway core-second | {fmt(per_core_second(scaling, 1, 'calls'))} "
        f"| {fmt(per_core_second(scaling, 2, 'calls'))} |"
    )
    if "stream" in one and "stream" in two:
        for label, key in (
            ("streams: streams/s", "rps"),
            ("streams: tokens/s", "tokens_per_s"),
            ("streams: errors", "errors"),
            ("streams: cores used by the gateway, all processes", "gateway_cores"),
            ("streams: cores used by the upstream", "upstream_cores"),
            ("streams: cores used by ghz", "ghz_cores"),
        ):
            out.append(f"| {label} | {fmt(one['stream'].get(key))} | {fmt(two['stream'].get(key))} |")
        out.append(
            f"| streams: tokens per gateway core-second | {fmt(per_core_second(scaling, 1, 'tokens'))} "
            f"| {fmt(per_core_second(scaling, 2, 'tokens'))} |"
        )
    out += ["", f"2 workers / 1 worker: **{scaling['ratio']:.2f}x**."]
    if one.get("gateway_cores") and two.get("gateway_cores"):
        # What a second worker could add at most here: the cores ghz and the upstream leave free,
        # against what one worker used.
        free = scaling["cores"] - two["ghz_cores"] - two["upstream_cores"]
        ceiling = same_run.ratio(results, ("scaling", free), ("scaling", one["gateway_cores"]))
        out.append(
            f"On this machine the load generator and the upstream leave {free:.2f} cores to the gateway, "
            f"so 2 workers could reach at most {ceiling:.2f}x of one worker ({one['gateway_cores']:.2f} "
            "cores). Per gateway core-second, the figure this machine can judge (issue 25 item 5):"
        )
        out += ["", "| target | measured (2 workers vs 1) | met |", "| --- | --- | --- |"]
        out += [f"| {name} | {measured} | {met_cell(met)} |" for name, measured, met in workers_rows(results)]
    return out


def met_cell(met: bool | None) -> str:
    return "—" if met is None else "yes" if met else "NO"


# Issue 25 item 3: unary costs as ratios against baselines of the same run.
CPU_TIMES_ECHO = 3.5  # CPU per unary call, features on, ≤ 3.5x the bare echo server's
PER_CORE_TIMES_FORWARDER = 1.3  # saturated calls/s per core ≥ 1.3x the minimal forwarder's


def issue25_targets_section(results: dict[str, Any]) -> list[str]:
    """Issue 25's unary and workers targets, each a ratio of figures from one run (through
    same_run.ratio: a row whose figures come from different runs says so instead)."""
    targets = results.get("targets", {})
    on, fwd = targets.get("gateway-on"), targets.get("forwarder")
    echo = results.get("echo")
    rows = ["| target | measured | ratio | met |", "| --- | --- | ---: | --- |"]

    def row(name: str, measured: str, ratio: str, met: bool | None) -> None:
        rows.append(f"| {name} | {measured} | {ratio} | {met_cell(met)} |")

    name = f"CPU per unary call, features on, ≤ {CPU_TIMES_ECHO:g}x the bare echo server's"
    on_cpu = dig(on or {}, "unary_saturated", "cpu_ms_per_call")
    echo_cpu = dig(echo or {}, "unary_saturated", "cpu_ms_per_call")
    if on_cpu and echo_cpu:
        measured = f"{on_cpu:.2f} vs {echo_cpu:.2f} ms (saturated)"
        try:
            times = same_run.ratio(results, ("targets", on_cpu), ("echo", echo_cpu))
            row(name, measured, f"{times:.2f}x", times <= CPU_TIMES_ECHO)
        except NotSameRunError as refused:
            row(name, measured, str(refused), None)
    else:
        row(name, "needs gateway-on and echo from one run", "—", None)

    name = f"saturated calls/s per core ≥ {PER_CORE_TIMES_FORWARDER:g}x the minimal forwarder's"
    fwd_cpu = dig(fwd or {}, "unary_saturated", "cpu_ms_per_call")
    if on_cpu and fwd_cpu and on and fwd:
        # Calls per second of the server's own CPU (1000 / CPU ms per call): each server is pinned
        # alone to one core, which it may not keep busy when the load side bounds it.
        ours, floor = 1000 / on_cpu, 1000 / fwd_cpu
        measured = (
            f"{fmt(ours)} vs {fmt(floor)} calls per CPU-second "
            f"({fmt(on['unary_saturated']['rps'])} vs {fmt(fwd['unary_saturated']['rps'])} calls/s)"
        )
        times = same_run.ratio(results, ("targets", ours), ("targets", floor))
        row(name, measured, f"{times:.2f}x", times >= PER_CORE_TIMES_FORWARDER)
    else:
        row(name, "needs gateway-on and forwarder from one run", "—", None)

    rows += unary_interleaved_rows(results)
    for name, measured, met in workers_rows(results):
        ratio = measured.rsplit(": ", 1)[1] if met is not None else "—"
        row(name, measured.rsplit(": ", 1)[0], ratio, met)
    return rows


def unary_interleaved_rows(results: dict[str, Any]) -> list[str]:
    """Item 3's two ratios again from `unary_interleaved` (bench/run.py measure_unary_interleaved):
    the medians of rounds in which the three servers were saturated in turn, one part of one run."""
    part = results.get("unary_interleaved")
    if not isinstance(part, dict):
        return []
    cpu = {side: dig(part, side, "cpu_ms_per_call") for side in ("echo", "gateway-on", "forwarder")}
    if not all(cpu.values()):
        return []
    median = {side: statistics.median(values) for side, values in cpu.items()}
    rounds = f"medians of {part['rounds']} interleaved rounds"
    times_echo = median["gateway-on"] / median["echo"]
    per_core = median["forwarder"] / median["gateway-on"]  # calls per CPU-second, ours over the forwarder's
    each = ", ".join(f"{value:.2f}" for value in cpu["gateway-on"])
    return [
        f"| CPU per unary call ≤ {CPU_TIMES_ECHO:g}x the echo server's, {rounds} | "
        f"{median['gateway-on']:.2f} vs {median['echo']:.2f} ms (gateway per round: {each}) | "
        f"{times_echo:.2f}x | {met_cell(times_echo <= CPU_TIMES_ECHO)} |",
        f"| calls per CPU-second ≥ {PER_CORE_TIMES_FORWARDER:g}x the forwarder's, {rounds} | "
        f"{fmt(1000 / median['gateway-on'])} vs {fmt(1000 / median['forwarder'])} | "
        f"{per_core:.2f}x | {met_cell(per_core >= PER_CORE_TIMES_FORWARDER)} |",
    ]


def steps_section(steps: list[dict[str, Any]]) -> list[str]:
    """bench/optimisations.json (bench/step.py): each optimisation with the figures before and after."""
    if not steps:
        return []
    out = ["", "## Optimisations, step by step (`python -m bench.step`)", ""]
    out.append(
        "Each row is the tree after that change, measured with the same short load (ghz, 8 s per "
        "figure; the server alone on core 1): the gateway with every feature on, and the minimal "
        "forwarder of the same run as its floor. Profiles behind them: bench/profiles/."
    )
    out += [
        "",
        "| step | commit | gateway calls/s | CPU ms/call | c=1 p50 / p99 ms | streams/s | CPU ms/stream "
        "| forwarder calls/s | forwarder CPU ms/call | gateway / forwarder |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for step in steps:
        gw, fw = step.get("gateway-on", {}), step.get("forwarder", {})
        share = gw["calls_per_s"] / fw["calls_per_s"] if gw and fw else None
        out.append(
            f"| {step['label']} | {step['commit']} | {fmt(gw.get('calls_per_s'))} | {fmt(gw.get('cpu_ms_per_call'))} "
            f"| {fmt(gw.get('c1_p50_ms'))} / {fmt(gw.get('c1_p99_ms'))} | {fmt(gw.get('streams_per_s'))} "
            f"| {fmt(gw.get('cpu_ms_per_stream'))} | {fmt(fw.get('calls_per_s'))} | {fmt(fw.get('cpu_ms_per_call'))} "
            f"| {f'{share:.0%}' if share is not None else '—'} |"
        )
    return out


TOKEN_TARGETS = ("gateway-grpc", "gateway-http", "forwarder")


def _thousands(value: Any) -> str:
    return f"{value / 1000:,.1f} k" if isinstance(value, int | float) else "—"


# The idle rate taken off (bench/token_instructions.py per_token): the figure with it left in moved by
# 30k per token between two runs of the same code when the gateway's idle rate under valgrind went
# from 350k to 950k instructions per second (2026-12-07); without it, the same code repeated within 1%.
TOKEN_FIGURE = "per_token_less_idle"


def token_steps_table(steps: list[dict[str, Any]]) -> str:
    """bench/token_steps.json (bench/token_instructions.py) as a table: instructions per relayed
    token and per unary call of each target, change by change."""
    head = " | ".join(f"{name} per token / per call" for name in TOKEN_TARGETS)
    lines = [
        f"| step | commit | {head} | gateway-grpc / forwarder per token |",
        "| --- | --- |" + " ---: |" * (len(TOKEN_TARGETS) + 1),
    ]
    for step in steps:
        figures = step["figures"]
        cells = [
            f"{_thousands(dig(figures, name, TOKEN_FIGURE))} / {_thousands(dig(figures, name, 'unary_per_call'))}"
            for name in TOKEN_TARGETS
        ]
        token, floor = dig(figures, "gateway-grpc", TOKEN_FIGURE), dig(figures, "forwarder", TOKEN_FIGURE)
        ratio = f"{token / floor:.2f}" if token and floor else "—"
        lines.append(f"| {step['label']} | {step['commit']} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def token_steps_section(steps: list[dict[str, Any]]) -> list[str]:
    if not steps:
        return []
    return [
        "",
        "## The stream path, step by step: instructions per relayed token (`make bench-token-instructions`)",
        "",
        "Counted under callgrind (bench/token_instructions.py): every thread of the server while it "
        "relays paced streams of 20 and then 220 tokens, one at a time, features on; per token = the "
        "difference of the two windows over the tokens between them, so what a stream costs once "
        "cancels out, less what the server executes idle in as long. Per call: unary calls of the same process. The same "
        "code counts within about 3% between runs (1% on a quieter machine); the timed CPU µs per token of bench/STREAMS.md "
        "move by tens of percent on this shared machine.",
        "",
        token_steps_table(steps),
    ]


def transports_section(measured: dict[str, Any] | None) -> list[str]:
    """Issue 25 item 4: other transports, JSON and protobuf libraries measured against the
    gateway's on the stream path (bench/token_instructions.py and timed A/B rounds), and why each was
    adopted or not. Written into results.json by hand from those runs (bench/README.md)."""
    if not measured:
        return []
    return [
        "",
        "## Faster transports, JSON, protobuf on the stream path (issue 25, item 4)",
        "",
        f"Measured {measured['date']}, load average {measured['load']}.",
        "",
        measured["table"],
        *(line for note in measured["notes"] for line in ("", note)),
    ]
