"""Redaction's CPU cost (issue 24 item 5): per kilobyte of text (Redactor.redact, the unary path)
and per streamed token (StreamRedactor.feed with 4-character tokens), redaction on and off, and
the pre-issue-24 stream redactor (bench/redaction_baseline.py) as the baseline, all timed in one
run, interleaved round by round, so that the ratios do not depend on how busy the machine was.

`make bench-redaction`; `--write` puts the table into docs/redaction.md between markers.
CPU time (time.process_time) of this process only; the best of the rounds is reported, since
other processes' load only ever adds to it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.doc_section import replace_section
from bench.pii.corpus import generate
from bench.redaction_baseline import BaselineStreamRedactor
from llmgateway.redaction.redactor import Redactor
from llmgateway.redaction.stream import StreamRedactor

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "redaction.md"
TOKEN = 4  # characters per streamed token: about an LLM token
ROUNDS = 7

# An assistant answer without PII: prose, markdown, a code block, numbers, versions and dates
# (the digits and dots that wake the phone, card and IP detectors without being any of them).
_PROSE = """\
Here is how to set up the project on a fresh machine. First, install Python 3.12 and make sure
`pip --version` reports 24.0 or newer. Then clone the repository and create a virtual environment:

```bash
python -m venv .venv && source .venv/bin/activate
pip install -r requirements.txt  # about 45 packages, 120 MB
pytest -q -k "not slow" --maxfail=3
```

The test suite has 1,284 tests and takes roughly 90 seconds on a laptop (4 cores, 16 GB). If a test
fails with `TimeoutError`, raise the limit in `pytest.ini` from 30 to 60 seconds. Version 2.4.1 of
the client changed the retry policy: it now waits 0.5, 1, 2 and 4 seconds between attempts, for at
most 7.5 seconds in total. The release on 2024-05-01 fixed the memory leak reported in issue #3187.
In the table below, the p50 latency dropped from 12.8 ms to 9.1 ms, and p99 from 48 ms to 31 ms.

1. Open the settings page and choose "Advanced".
2. Set the batch size to 256 and the learning rate to 3e-4.
3. Save, then restart the worker with `systemctl restart worker@1`.

That's all: the dashboard should show the new throughput (about 1.8k requests per second) within a
minute. Let me know if anything in steps 1-3 behaves differently on your side.
"""


def _texts() -> dict[str, str]:
    faker = [ex.text for ex in generate()]
    corpus = [
        json.loads(line)["text"]
        for line in (ROOT / "tests" / "data" / "pii_corpus.jsonl").read_text().splitlines()
        if line.strip()
    ]
    return {
        "prose, no PII": (_PROSE + "\n") * 4,
        "Faker corpus (every 6th text)": "\n".join(faker[::6]),
        "hand-written corpus (tests/data)": "\n".join(corpus),
    }


def _tokens(text: str) -> list[str]:
    return [text[i : i + TOKEN] for i in range(0, len(text), TOKEN)]


def _cpu(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def _stream(make: Callable[[], StreamRedactor | BaselineStreamRedactor], tokens: list[str]) -> str:
    s = make()
    out = [s.feed(t) for t in tokens]
    out.append(s.flush())
    return "".join(out)


def _off(tokens: list[str]) -> str:
    out = []
    for t in tokens:  # what a stream costs without redaction: each token passed on as it comes
        out.append(t)
    return "".join(out)


def _new(redactor: Redactor) -> StreamRedactor:
    return StreamRedactor(redactor)


def _old(redactor: Redactor) -> BaselineStreamRedactor:
    return BaselineStreamRedactor(redactor)


def _row(name: str, text: str, redactor: Redactor) -> str:
    tokens = _tokens(text)
    assert _stream(partial(_new, redactor), tokens) == redactor.redact(text).text
    runs: dict[str, Callable[[], object]] = {
        "unary on": partial(redactor.redact, text),
        "unary off": text.encode,  # the copy a gateway makes anyway
        "stream old": partial(_stream, partial(_old, redactor), tokens),
        "stream new": partial(_stream, partial(_new, redactor), tokens),
        "stream off": partial(_off, tokens),
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(ROUNDS):  # interleaved: each round times every variant once
        for k, fn in runs.items():
            best[k] = min(best[k], _cpu(fn))
    kb, n = len(text) / 1024, len(tokens)
    per_kb = {k: best[k] / kb * 1e6 for k in ("unary on", "unary off")}
    per_tok = {k: best[k] / n * 1e6 for k in ("stream old", "stream new", "stream off")}
    return (
        f"| {name} | {len(text)} | {per_kb['unary on']:.0f} | {per_kb['unary off']:.1f} "
        f"| {per_tok['stream old']:.1f} | {per_tok['stream new']:.1f} "
        f"| {per_tok['stream new'] / per_tok['stream old']:.2f} | {per_tok['stream off']:.2f} |"
    )


def measure() -> str:
    redactor = Redactor()
    rows = [_row(name, text, redactor) for name, text in _texts().items()]
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
