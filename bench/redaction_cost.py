"""Redaction's CPU cost (issue 24 item 5): per kilobyte of text (Redactor.redact, the unary path)
and per streamed token (StreamRedactor.feed with 4-character tokens), redaction on and off, and
the pre-issue-24 stream redactor (bench/redaction_baseline.py) as the baseline, all timed in one
run, interleaved round by round, so that the ratios do not depend on how busy the machine was.

`make bench-redaction`; `--write` puts the table into docs/redaction.md between markers.
CPU time (time.process_time) of this process only; the best of the rounds is reported, since
other processes' load only ever adds to it. Where the machine's noise is larger than a change,
count instructions instead: bench/redaction_instructions.py (`make bench-redaction-instructions`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from bench.doc_section import replace_section
from bench.redaction_workload import ROOT, TOKEN, check, texts, tokens, variants
from llmgateway.redaction.redactor import Redactor

DOC = ROOT / "docs" / "redaction.md"
ROUNDS = 7


def _cpu(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def _row(name: str, text: str, redactor: Redactor) -> str:
    check(text, redactor)
    runs = variants(text, redactor)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(ROUNDS):  # interleaved: each round times every variant once
        for k, fn in runs.items():
            best[k] = min(best[k], _cpu(fn))
    kb, n = len(text) / 1024, len(tokens(text))
    per_kb = {k: best[k] / kb * 1e6 for k in ("unary on", "unary off")}
    per_tok = {k: best[k] / n * 1e6 for k in ("stream old", "stream new", "stream off")}
    return (
        f"| {name} | {len(text)} | {per_kb['unary on']:.0f} | {per_kb['unary off']:.1f} "
        f"| {per_tok['stream old']:.1f} | {per_tok['stream new']:.1f} "
        f"| **{per_tok['stream new'] / per_tok['stream old']:.2f}** | {per_tok['stream off']:.2f} |"
    )


def measure() -> str:
    redactor = Redactor()
    rows = [_row(name, text, redactor) for name, text in texts().items()]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    head = (
        f"`make bench-redaction` (bench/redaction_cost.py): CPU µs, best of {ROUNDS} interleaved "
        f"rounds, {TOKEN}-character tokens; load average {load} (1/5/15 min) on 2 shared cores. "
        "*old* is the stream redactor before issue 24 (bench/redaction_baseline.py), timed in the "
        "same run; *off* is the same work without redaction.\n\n"
        "| text | chars | unary on µs/KB | unary off µs/KB | stream old µs/token "
        "| stream new µs/token | new / old | stream off µs/token |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    return head + "\n" + "\n".join(rows)


def main() -> None:
    table = measure()
    print(table)
    if "--write" in sys.argv:
        replace_section(DOC, "bench-redaction", table)


if __name__ == "__main__":
    main()
