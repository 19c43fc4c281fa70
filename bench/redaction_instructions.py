"""Redaction's cost in instructions (issue 24 item 5): the figures of bench/redaction_cost.py
counted by valgrind instead of timed, so that a comparison does not depend on what else the shared
machine runs (timed ratios there move by about ±0.1 between runs at load 15-20).

Each text (bench/redaction_workload.py, thinned to every k-th line within MAX_CHARS characters:
under valgrind a pass runs about 50 times slower) runs in a child process under valgrind's
callgrind. For each variant the child makes a warm-up pass (phonenumbers' verdicts and `re`'s
compiled patterns are then cached, as in a running gateway), then one pass through
`operator.call`: callgrind collects only inside that C function (`--toggle-collect`) and writes its
count when it returns (`--dump-after`), so each count is exactly one warm pass of one variant,
whatever the interpreter's start and the imports cost. Hash seeds are fixed (PYTHONHASHSEED=0): the
same code gives the same counts run after run.

Fewer instructions is less work, not always less time (a cache miss costs more than an
instruction): the timed table stays the figure users feel; this one says which change removed work.

`make bench-redaction-instructions` (valgrind must be installed; about 12 minutes on 2 busy
cores); `--write` puts the table into docs/redaction.md between markers. `--variants "stream
new,stream old"` counts only those; `--source DIR` counts the server code of another tree
(`DIR/server`, e.g. `git archive` of an earlier commit unpacked there) with this tree's benchmark.
"""

from __future__ import annotations

import glob
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.doc_section import replace_section
from bench.redaction_workload import ROOT, TOKEN, VARIANTS, check, texts, tokens, variants
from llmgateway.redaction.redactor import Redactor

DOC = ROOT / "docs" / "redaction.md"
MAX_CHARS = 8000
_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def thinned(text: str, limit: int = MAX_CHARS) -> str:
    """Every k-th line of ``text``, for the smallest k that keeps it within ``limit`` characters
    (so every part of a corpus is still in it)."""
    lines = text.splitlines(keepends=True)
    k = 1
    while len(out := "".join(lines[::k])) > limit:
        k += 1
    return out


def _child(path: str, chosen: list[str]) -> None:
    """The counted process: per variant a warm-up pass, then one pass inside operator.call."""
    runs = variants(Path(path).read_text(encoding="utf-8"), Redactor())
    for variant in chosen:
        runs[variant]()
        operator.call(runs[variant])  # the one C function callgrind collects in


def _count(path: Path, chosen: tuple[str, ...], source: Path | None) -> dict[str, int]:
    """Instructions of one warm pass of each of ``chosen`` on the text at ``path``."""
    out = path.with_suffix(".callgrind")
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",
        "--toggle-collect=_operator_call",
        "--dump-after=_operator_call",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "bench.redaction_instructions",
        "--child",
        str(path),
        ",".join(chosen),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if source is not None:  # ahead of the venv's editable install of this tree
        env["PYTHONPATH"] = str(source / "server")
    subprocess.run(argv, capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    dumps = sorted(glob.glob(f"{out}.*"), key=lambda name: int(name.rsplit(".", 1)[1]))
    if len(dumps) != len(chosen):  # anything else calling operator.call would show here
        raise RuntimeError(f"{len(dumps)} callgrind dumps for {len(chosen)} variants")
    counts = {}
    for variant, dump in zip(chosen, dumps, strict=True):
        match = _TOTALS.search(Path(dump).read_text())
        if match is None:
            raise RuntimeError(f"no totals in {dump}")
        counts[variant] = int(match.group(1))
    return counts


def measure(chosen: tuple[str, ...] = VARIANTS, source: Path | None = None, workers: int = 2) -> str:
    redactor = Redactor()
    measured = {name: thinned(text) for name, text in texts().items()}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        jobs = {}
        for i, (name, text) in enumerate(measured.items()):
            check(text, redactor)
            path = Path(tmp) / f"text-{i}.txt"
            path.write_text(text, encoding="utf-8")
            jobs[name] = pool.submit(_count, path, chosen, source)
        counts = {name: job.result() for name, job in jobs.items()}
    rows = []
    for name, text in measured.items():
        kb, n = len(text) / 1024, len(tokens(text))
        per_pass = counts[name]
        cell = {v: f"{per_pass[v] / (kb if v.startswith('unary') else n):,.0f}" for v in chosen}
        if "stream new" in chosen and "stream old" in chosen:
            cell["new / old"] = f"**{per_pass['stream new'] / per_pass['stream old']:.3f}**"
        rows.append(
            f"| {name} | {len(text)} | "
            + " | ".join(cell.get(c, "-") for c in (*VARIANTS[:3], "stream new", "new / old", "stream off"))
            + " |"
        )
    head = (
        "`make bench-redaction-instructions` (bench/redaction_instructions.py): instructions of one "
        f"warm pass counted by valgrind's callgrind, {TOKEN}-character tokens, each text thinned to "
        f"every k-th line within {MAX_CHARS} characters; the machine's load does not enter these "
        "figures.\n\n"
        "| text | chars | unary on instr/KB | unary off instr/KB | stream old instr/token "
        "| stream new instr/token | new / old | stream off instr/token |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    return head + "\n" + "\n".join(rows)


def _option(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3].split(","))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    chosen = tuple(v.strip() for v in (_option("--variants") or ",".join(VARIANTS)).split(","))
    if not set(chosen) <= set(VARIANTS):
        sys.exit(f"--variants: a comma-separated subset of {', '.join(VARIANTS)}")
    source = _option("--source")
    if "--write" in sys.argv and (chosen != VARIANTS or source is not None):
        sys.exit("--write records every variant of this tree: leave --variants and --source out")
    table = measure(chosen, Path(source).resolve() if source else None)
    print(table)
    if "--write" in sys.argv:
        replace_section(DOC, "bench-redaction-instructions", table)


if __name__ == "__main__":
    main()
