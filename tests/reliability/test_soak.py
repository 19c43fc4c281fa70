"""The soak (soak.py) through `llmgateway serve --workers 2` with Redis-backed limits: 60 seconds in
`make test`; LLMGW_SOAK_SECONDS=600 (`make soak`) for the long run. Its output is also searched for
secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.redis_fixtures import redis_binary
from tests.redis_server import RedisServer
from tests.reliability.soak import (
    FD_GROWTH_LIMIT,
    MAIN_KEY,
    PROVIDER_KEY,
    RSS_TREND_LIMIT_PER_CALL,
    TIGHT_KEY,
    run_soak,
)

# Alone, after the parallel part of the suite (Makefile: pytest).
pytestmark = pytest.mark.serial
SECONDS = float(os.environ.get("LLMGW_SOAK_SECONDS", "60"))
WARMUP = 5.0


def secrets_in(text: str) -> list[str]:
    found = []
    for name, secret in [
        ("main gateway key", MAIN_KEY[0]),
        ("main key secret", MAIN_KEY[0].split("-", 2)[2]),
        ("tight gateway key", TIGHT_KEY[0]),
        ("tight key secret", TIGHT_KEY[0].split("-", 2)[2]),
        ("provider key", PROVIDER_KEY),
        ("provider key body", PROVIDER_KEY[8:28]),
    ]:
        if secret in text:
            found.append(name)
    return found


def save_report(path: Path, summary: str) -> None:
    path.write_text(summary + "\n")


@pytest.mark.timeout(SECONDS + WARMUP + 120)
async def test_soak(tmp_path: Path) -> None:
    with RedisServer(redis_binary()) as redis:
        report = await run_soak(SECONDS, tmp_path, redis.url, warmup=WARMUP)
    summary = report.render()
    print(summary)
    save_report(Path(os.environ.get("LLMGW_SOAK_REPORT", tmp_path / "soak-report.txt")), summary)
    assert not report.unexpected, summary
    assert report.requests > SECONDS * 20, summary
    kinds = {kind for kind, _, _ in report.outcomes}
    assert kinds == {"good", "tight", "faulty"}, summary
    assert any(reason == "RATE_LIMITED" for _, _, reason in report.outcomes), "Redis limits never refused"
    assert any(kind == "faulty" and code != "OK" for kind, code, _ in report.outcomes), summary
    for idle, before in zip(report.idle, report.start, strict=True):
        assert before.fds > idle.fds, f"worker {idle.pid} never got a connection: {summary}"
    assert len(report.rss_series) >= SECONDS / 2, summary
    for worker, (before, after) in enumerate(zip(report.start, report.end, strict=True)):
        assert report.rss_trend_per_call(worker) < RSS_TREND_LIMIT_PER_CALL, summary
        assert after.fds - before.fds <= FD_GROWTH_LIMIT, summary
    # Secrets: nothing the two workers and the supervisor printed, and no status returned.
    assert "llmgateway.access" in report.log
    assert secrets_in(report.log) == [], "a secret in the soak's logs"
    assert secrets_in("\n".join(report.statuses)) == [], "a secret in a status"
