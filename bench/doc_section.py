"""Tables the benchmarks write into the docs, between a pair of HTML comment markers
(`<!-- NAME:begin -->` … `<!-- NAME:end -->`), so a rerun replaces its own figures and nothing else."""

from __future__ import annotations

from pathlib import Path


def replace_section(doc: Path, name: str, table: str) -> None:
    """Put `table` between the `name` markers of `doc` (raises ValueError when they are missing)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text(encoding="utf-8")
    start, stop = text.index(begin) + len(begin), text.index(end)
    doc.write_text(text[:start] + "\n" + table + "\n" + text[stop:], encoding="utf-8")
