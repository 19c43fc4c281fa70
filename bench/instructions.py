"""Instructions per call: the one figure this machine's noise cannot move.

Timed figures on the benchmark machine drift by ±20% between runs minutes apart, more than most
single optimisations change. Valgrind's callgrind counts the instructions a server executes (every
thread: the event loop, gRPC's pollers, the garbage collector) the same way on every run, so a change
that removes work shows here even when the timed tables cannot tell it from noise. It does not
replace them: an instruction stalled on a cache miss or a wake-up from idle costs more than one that
is not (concurrency 1 on this machine pays for both, see bench/README.md).

Each server runs under `valgrind --tool=callgrind` (about 50 times slower, so only counts are
read): after a warm-up the counters are zeroed (`callgrind_control -z`), `CALLS` calls are made one
at a time with ghz, and the counters are dumped (`callgrind_control -d`); then the same for
`STREAMS` ChatStream calls. Run with `make bench-instructions` (installs valgrind); it merges its
section into bench/results.json.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.run import OUT, Target, ghz_argv, pinned, source_tree, start, stop, wait_ready

CALLS = 200
STREAMS = 100
WARM_UP = 20
# Under valgrind one call takes tens of milliseconds and the start a minute.
READY_TIMEOUT_S = 600.0
TARGETS = ("gateway-on", "gateway-off", "forwarder", "forwarder-aiohttp")

_TOTALS = re.compile(r"^(?:totals|summary):\s+(\d+)", re.MULTILINE)


def _calls(target: Target, method: str, count: int) -> None:
    """`count` calls one at a time (a count, not a duration: under valgrind time means little)."""
    argv = ghz_argv(target, method, ["--total", str(count), "--timeout", "60s"], concurrency=1)
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    # A failed call does less work than a served one: a count with failures in it means nothing.
    codes = json.loads(done.stdout).get("statusCodeDistribution", {})
    if codes != {"OK": count}:
        raise RuntimeError(f"{target.name} {method}: {codes} of {count} calls under valgrind")


def _control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def _dumped(out: Path, number: int) -> int:
    """The instruction total of callgrind's `number`th dump (`<out>.<number>`)."""
    text = Path(f"{out}.{number}").read_text()
    match = _TOTALS.search(text)
    if match is None:
        raise RuntimeError(f"no totals in {out}.{number}")
    return int(match.group(1))


def count(target: Target) -> dict[str, float]:
    """Instructions per unary call and per stream for one server, counted under callgrind."""
    out = OUT / f"callgrind-{target.name}"
    for stale in glob.glob(f"{out}*"):
        os.remove(stale)
    pin = len(pinned(1))  # every target's command starts with its taskset prefix (bench/run.py)
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-line=no"]
    argv = [*target.argv[:pin], *valgrind, *target.argv[pin:]]
    target.process = start(argv, OUT / f"{target.name}-instructions.log")
    figures: dict[str, float] = {}
    try:
        wait_ready(target, timeout=READY_TIMEOUT_S)
        for number, (method, calls, key) in enumerate(
            (("Chat", CALLS, "chat_per_call"), ("ChatStream", STREAMS, "stream_per_call")), start=1
        ):
            _calls(target, method, WARM_UP)
            _control("-z", target.process.pid)
            _calls(target, method, calls)
            _control("-d", target.process.pid)
            figures[key] = _dumped(out, number) / calls
    finally:
        stop(target.process)  # the dumps are written: the final one at exit is not needed
    return figures


def measure(made: list[Target]) -> dict[str, Any]:
    """The count for each of TARGETS, or why it was not taken."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return {"error": "valgrind is not installed (make bench-instructions installs it)"}
    figures: dict[str, Any] = {"calls": CALLS, "streams": STREAMS, **source_tree()}
    for target in made:
        if target.name in TARGETS:
            print(f"counting instructions of {target.name} ...", flush=True)
            figures[target.name] = count(target)
    return figures
