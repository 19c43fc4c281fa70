"""Scores the redactor on the Faker corpus (bench/pii/corpus.py): precision, recall and leaked
characters per kind and locale, written into docs/redaction.md between markers. `make pii-score`."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from bench.doc_section import replace_section
from bench.pii.corpus import LOCALES, generate
from llmgateway.redaction.redactor import Redactor
from llmgateway.redaction.stream import StreamRedactor

DOC = Path(__file__).resolve().parents[2] / "docs" / "redaction.md"


def score() -> str:
    redactor = Redactor()
    tp: defaultdict[tuple[str, str], int] = defaultdict(int)
    fn: defaultdict[tuple[str, str], int] = defaultdict(int)
    fp: defaultdict[tuple[str, str], int] = defaultdict(int)
    leaked: defaultdict[tuple[str, str], int] = defaultdict(int)
    examples = generate()
    differences = 0
    for ex in examples:
        stream = StreamRedactor(redactor)
        streamed = "".join([stream.feed(ch) for ch in ex.text] + [stream.flush()])
        differences += streamed != redactor.redact(ex.text).text
        found = redactor.findings(ex.text)
        for start, end in ex.spans:
            hit = [f for f in found if f.start < end and start < f.end]
            # a value counts as found when its letters and digits are all covered
            masked = {i for f in hit for i in range(f.start, f.end)}
            left = sum(1 for i in range(start, end) if ex.text[i].isalnum() and i not in masked)
            leaked[(ex.kind, ex.locale)] += left
            if hit and left == 0:
                tp[(ex.kind, ex.locale)] += 1
            else:
                fn[(ex.kind, ex.locale)] += 1
        for f in found:
            if not any(f.start < e and s < f.end for s, e in ex.spans):
                fp[(f.kind.value, ex.locale)] += 1
    kinds = sorted({k for k, _ in tp} | {k for k, _ in fn} | {k for k, _ in fp})
    lines = [
        f"Faker corpus: {len(examples)} texts, seed 24, locales {', '.join(LOCALES)} "
        "(`make pii-score`; precision / recall / leaked letters and digits). "
        f"Streamed one character at a time vs unary: {differences} differences.",
        "",
        "| kind | " + " | ".join(LOCALES) + " |",
        "|---" * (len(LOCALES) + 1) + "|",
    ]
    for kind in kinds:
        cells = []
        for loc in LOCALES:
            t, n, p = tp[(kind, loc)], fn[(kind, loc)], fp[(kind, loc)]
            prec = f"{t / (t + p):.2f}" if t + p else "n/a"
            rec = f"{t / (t + n):.2f}" if t + n else "n/a"
            cells.append(f"{prec} / {rec} / {leaked[(kind, loc)]}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    table = score()
    print(table)
    if "--write" in sys.argv:
        replace_section(DOC, "pii-score", table)


if __name__ == "__main__":
    main()
