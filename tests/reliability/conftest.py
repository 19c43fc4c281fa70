"""Every test under tests/reliability runs with the gateway's logs captured at INFO, and afterwards
everything logged is searched for the suite's secrets: provider keys of every simulator harness and
the gateway keys the tests mint. (The soak, a separate process, searches its own output.)"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from _pytest.logging import LogCaptureHandler

from tests.conformance.harness import AWS_SECRET, AWS_WRONG_SECRET, KEY, WRONG_KEY

SECRETS: dict[str, str] = {
    "conformance provider key": KEY,
    "conformance wrong key": WRONG_KEY,
    "aws secret": AWS_SECRET,
    "aws wrong secret": AWS_WRONG_SECRET,
}


def register_secret(name: str, value: str) -> None:
    """Add a secret for the search (gateway keys a test module mints)."""
    SECRETS[name] = value


def check_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Search every record captured so far (message, traceback, extra fields) for the secrets."""
    text = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.__dict__}" for record in caplog.records
    )
    leaked = [name for name, secret in SECRETS.items() if secret and secret in text]
    assert leaked == [], f"secrets in the logs: {leaked}"


def drain_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Check what was logged so far, then drop it from every pytest capture handler (caplog's and
    the one that keeps records for the test report): a long test's memory must not count the log."""
    check_logs(caplog)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, LogCaptureHandler):
            handler.clear()


@pytest.fixture(autouse=True)
def no_secret_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO)
    yield
    check_logs(caplog)
