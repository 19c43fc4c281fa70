"""The work that the redaction benchmarks measure (issue 24 item 5), shared by the timed one
(bench/redaction_cost.py) and the instruction count (bench/redaction_instructions.py): the texts,
cut into streamed tokens, and each variant of redacting them, on, off and with the stream
redactor from before issue 24 (bench/redaction_baseline.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.redaction_baseline import BaselineStreamRedactor
from llmgateway.redaction.redactor import Redactor
from llmgateway.redaction.stream import StreamRedactor

ROOT = Path(__file__).resolve().parents[1]
TOKEN = 4  # characters per streamed token: about an LLM token

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


def texts() -> dict[str, str]:
    """The measured texts by name: prose without PII, the Faker corpus, the hand-written corpus."""
    # Faker only where the texts are made: not in the children counted under valgrind
    from bench.pii.corpus import generate  # noqa: PLC0415

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


def tokens(text: str) -> list[str]:
    return [text[i : i + TOKEN] for i in range(0, len(text), TOKEN)]


def _stream(make: Callable[[], StreamRedactor | BaselineStreamRedactor], chunks: list[str]) -> str:
    s = make()
    out = [s.feed(t) for t in chunks]
    out.append(s.flush())
    return "".join(out)


def _off(chunks: list[str]) -> str:
    out = []
    for t in chunks:  # what a stream costs without redaction: each token passed on as it comes
        out.append(t)
    return "".join(out)


# The variants, in the tables' order. "unary off" is the copy a gateway makes anyway.
VARIANTS = ("unary on", "unary off", "stream old", "stream new", "stream off")


def variants(text: str, redactor: Redactor) -> dict[str, Callable[[], object]]:
    """Each variant's work on ``text``, ready to call."""
    chunks = tokens(text)
    return {
        "unary on": partial(redactor.redact, text),
        "unary off": text.encode,
        "stream old": partial(_stream, partial(BaselineStreamRedactor, redactor), chunks),
        "stream new": partial(_stream, partial(StreamRedactor, redactor), chunks),
        "stream off": partial(_off, chunks),
    }


def check(text: str, redactor: Redactor) -> None:
    """The streamed result is the unary one (a faster stream that differs measures nothing)."""
    streamed = variants(text, redactor)["stream new"]()
    if streamed != redactor.redact(text).text:
        raise AssertionError("the stream redactor's output differs from unary redaction")
