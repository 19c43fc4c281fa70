"""Which run measured each part of bench/results.json, and the one gate every ratio of the report goes
through (issue 25 item 8).

A part is what one invocation of the harness writes: the main run's `targets`, `upstream`, `echo`,
`scaling`, `c1_interleaved` and `doors_interleaved`, or one merged later by another command
(`litellm`, `instructions`, `ledger_cost`, ...). Each carries a stamp under `results["runs"][part]`:
its run id, when it was measured, the commit and the load average. Machines here differ by 2x from
day to day, so a ratio of figures from two runs says more about the days than about the servers:
`ratio` refuses it (raises NotSameRunError) instead of computing it, and the report prints why.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

# Results written before parts carried stamps: these parts were always written together by one
# `make bench` (it replaces the whole file), so they count as one run; anything else unstamped
# (merged in later by another command) counts as a run of its own.
_LEGACY_MAIN_RUN = "the main run (no run ids recorded)"
_LEGACY_MAIN_PARTS = frozenset({"targets", "upstream", "echo", "scaling"})

# A figure as the report uses it: the part of results.json it comes from, and its value.
Figure = tuple[str, float]


class NotSameRunError(Exception):
    """Figures from different runs (or a run that is not known) were about to be compared."""

    def __init__(self, runs: dict[str, str | None]) -> None:
        self.runs = runs
        which = ", ".join(f"{part}: {run or 'unknown run'}" for part, run in runs.items())
        super().__init__(f"not measured in the same run ({which})")


def new_run_id() -> str:
    """A run id that sorts by time and does not repeat (two invocations in one second differ)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def run_of(results: dict[str, Any], part: str) -> str | None:
    """The run id of `part`, or None when nothing says which run measured it."""
    stamp = results.get("runs", {}).get(part)
    if isinstance(stamp, dict) and stamp.get("run_id"):
        return str(stamp["run_id"])
    if part in _LEGACY_MAIN_PARTS and part in results:
        return _LEGACY_MAIN_RUN
    return None


def check(results: dict[str, Any], *parts: str) -> None:
    """Raise NotSameRunError unless every one of `parts` was measured in one known run."""
    if len(set(parts)) <= 1:  # figures of one part come from the invocation that wrote it
        return
    runs = {part: run_of(results, part) for part in dict.fromkeys(parts)}
    if None in runs.values() or len(set(runs.values())) > 1:
        raise NotSameRunError(runs)


def ratio(results: dict[str, Any], top: Figure, bottom: Figure) -> float:
    """top / bottom, only when both figures come from the same run (NotSameRunError otherwise)."""
    check(results, top[0], bottom[0])
    return top[1] / bottom[1]


def stamp_line(results: dict[str, Any], part: str) -> str:
    """Which run measured `part`, when, at which commit and under which load: the line each section
    of the report starts with."""
    stamp = results.get("runs", {}).get(part)
    if not isinstance(stamp, dict):
        run = run_of(results, part)
        return f"Run: {run or 'not recorded (measured before runs had ids)'}."
    before = " ".join(stamp.get("loadavg_before", [])) or "?"
    after = " ".join(stamp.get("loadavg_after", [])) or "?"
    return (
        f"Run `{stamp['run_id']}`: measured {stamp.get('date', '?')} at commit {stamp.get('commit', '?')} "
        f"(server changes: {stamp.get('server_changes', '?')}), load average {before} before, {after} after."
    )


def runs_line(results: dict[str, Any], *parts: str) -> str:
    """Which runs the figures of a section come from (the parts present in `results`)."""
    by_run: dict[str, list[str]] = {}
    unknown: list[str] = []
    for part in parts:
        if part in results:
            run = run_of(results, part)
            if run:
                by_run.setdefault(run, []).append(part)
            else:
                unknown.append(part)
    listed = [f"run `{run}` ({', '.join(names)})" for run, names in by_run.items()]
    if unknown:
        listed.append(f"no run id recorded ({', '.join(unknown)})")
    line = f"Figures from {'; '.join(listed) or 'no run'}."
    if len(by_run) + len(unknown) > 1:
        line += " A row that needs figures of two different runs prints no ratio."
    return line
