"""The ledger's files (a SQLite database, the spool folder) must be writable before anything
starts: a read-only config mount or a user without a home otherwise surfaces as a traceback from
a worker, or as records that cannot be spooled."""

from __future__ import annotations

import os
from pathlib import Path

from llmgateway.config import ConfigError, LedgerSettings
from llmgateway.config.ledger import STATE_DIR_VARIABLE


def folders(settings: LedgerSettings) -> list[Path]:
    """The folders the ledger writes into: the SQLite file's and the spool."""
    found: list[Path] = []
    url = settings.url.get_secret_value() if settings.url is not None else ""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        found.append(Path(url.removeprefix("sqlite:///")).parent)
    if settings.spool_dir is not None:
        found.append(settings.spool_dir)
    return found


def check_writable(settings: LedgerSettings) -> None:
    """ConfigError naming the first ledger folder this process cannot make or write into."""
    if not settings.active:
        return
    for folder in folders(settings):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = error.strerror or error.__class__.__name__
        else:
            if os.access(folder, os.W_OK | os.X_OK):
                continue
            reason = "not writable"
        raise ConfigError(
            f"ledger: {folder}: {reason} (uid {os.getuid()}); point ledger.url and ledger.spool_dir, "
            f"or ${STATE_DIR_VARIABLE}, at a writable folder"
        )
