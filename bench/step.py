"""One optimisation step, measured: the gateway (features on) and the minimal forwarder under the
same short load, appended to bench/optimisations.json, which bench/report.py renders as the
"Optimisations" table of bench/RESULTS.md.

    python -m bench.step --label "uvloop as the default event loop" [--source DIR] [--no-forwarder]

`--source` measures another checkout of the server (e.g. a `git worktree` of the commit before an
optimisation): its server/ directory goes first on PYTHONPATH, so the same venv runs that code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.run import (
    BENCH,
    OUT,
    ROOT,
    STEPS,
    Target,
    build_protoset,
    free_port,
    ghz,
    rss_mb,
    saturated,
    start,
    stop,
    targets,
    upstream_server,
    wait_ready,
    write_report,
)

CLOSED_S = 8


def measure(target: Target) -> dict[str, Any]:
    """Concurrency 1 latency, saturated unary calls/s and CPU per call, saturated streams."""
    target.process = start(target.argv, OUT / f"step-{target.name}.log")
    try:
        wait_ready(target)
        pid = target.process.pid
        ghz(target, "Chat", concurrency=4, seconds=2)
        c1 = ghz(target, "Chat", concurrency=1, seconds=CLOSED_S)
        unary = saturated(target, pid, "Chat", CLOSED_S)
        streams = saturated(target, pid, "ChatStream", CLOSED_S)
        return {
            "c1_p50_ms": round(c1["p50_ms"], 2),
            "c1_p99_ms": round(c1["p99_ms"], 2),
            "calls_per_s": round(unary["rps"], 1),
            "cpu_ms_per_call": round(unary["cpu_ms_per_call"], 2),
            "streams_per_s": round(streams["rps"], 1),
            "cpu_ms_per_stream": round(streams["cpu_ms_per_call"], 2),
            "rss_mb": round(rss_mb(pid), 1),
            "errors": unary["errors"] + streams["errors"],
        }
    finally:
        stop(target.process)


def commit_of(source: Path) -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True, text=True, check=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "server"], cwd=source, capture_output=True, text=True, check=True
    )
    return head.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.step")
    parser.add_argument("--label", required=True, help="what this step changed")
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout whose server/ to measure")
    parser.add_argument("--no-forwarder", action="store_true", help="measure the gateway only")
    parser.add_argument("--into", type=Path, default=STEPS, help="the JSON list to append to")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    source = args.source.resolve()
    if source != ROOT:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(source / "server"), os.environ.get("PYTHONPATH", "")])
    build_protoset()
    step: dict[str, Any] = {
        "label": args.label,
        "commit": commit_of(source),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
    }
    with upstream_server(free_port()) as url:
        for target in targets(url):
            if target.name == "gateway-on" or (target.name == "forwarder" and not args.no_forwarder):
                print(f"measuring {target.name} ...", flush=True)
                step[target.name] = measure(target)
    steps: list[dict[str, Any]] = json.loads(args.into.read_text()) if args.into.exists() else []
    steps.append(step)
    args.into.write_text(json.dumps(steps, indent=2) + "\n")
    results = BENCH / "results.json"
    if args.into.resolve() == STEPS.resolve() and results.exists():  # the table in RESULTS.md, at once
        write_report(BENCH, json.loads(results.read_text()))
    print(json.dumps(step, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
