"""The one table of error reasons (llmgateway/reasons.py) is complete and agrees with README's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import grpc

from llmgateway.reasons import REASONS, Reason, ReasonClass

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_table() -> dict[Reason | str, set[str]]:
    """Each reason README's error table names, with the gRPC codes its row gives."""
    section = README.read_text().split("### Errors", 1)[1].split("\n### ", 1)[0]
    rows: dict[Reason | str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not line.startswith("|") or cells[1] in ("code", "---"):
            continue
        codes = set(re.findall(r"[A-Z][A-Z_]+", cells[1]))
        for reason in re.findall(r"`([A-Z][A-Z_]+)`", cells[2]):
            rows.setdefault(reason, set()).update(codes)
    return rows


def test_every_reason_has_a_code_a_class_and_an_http_status() -> None:
    assert set(REASONS) == set(Reason)
    for reason, spec in REASONS.items():
        assert isinstance(spec.code, grpc.StatusCode), reason
        assert spec.reason_class in get_args(ReasonClass), reason
        assert 400 <= spec.http_status <= 599, reason
        assert not spec.retry or spec.breaker, f"{reason}: retried but not a deployment's failure"


def test_readme_error_table_and_the_reasons_agree() -> None:
    table = _readme_table()
    assert set(table) == {reason.value for reason in Reason}, (
        f"in README only: {sorted(set(table) - set(Reason))}; "
        f"in reasons.py only: {sorted(set(Reason) - set(table))}"
    )
    for reason, codes in table.items():
        spec = REASONS[Reason(reason)]
        if reason != Reason.STREAM_INTERRUPTED:  # the code of its cause
            assert spec.code.name in codes, f"{reason}: README says {codes}, reasons.py {spec.code.name}"
