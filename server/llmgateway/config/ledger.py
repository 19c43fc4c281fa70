"""The spend ledger: the database every call's record is written to, and how it is written."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from llmgateway.config.common import Seconds, Strict

# The database file and the spool folder a config read from a file gets by default, next to it.
DEFAULT_DATABASE_FILE = "llmgateway.db"
DEFAULT_SPOOL_DIR = "llmgateway-spool"
# Overrides where the ledger's files go by default, for a config file and the built-in config
# alike (the image sets it: its config folder is a read-only mount).
STATE_DIR_VARIABLE = "LLMGW_STATE_DIR"


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite database file."""
    return f"sqlite:///{path.resolve()}"


class LedgerSettings(Strict):
    """One record per call (key id, tenant, tags, model, tokens, cost, status, latency, ...) in a
    database, written off the call path in batches. `url` is a SQLAlchemy URL: `sqlite:///path`
    (the default, a file next to the config) or `postgresql+psycopg://user:${PASSWORD}@host/db`
    for several replicas. A config built in code without a `url` has no ledger."""

    # Write one record per call (false: no ledger, no database).
    enabled: bool = True
    # Secret: a server URL may carry a password; logs show it with the password masked.
    url: SecretStr | None = None
    # Bring the schema to this build's head at start. None: yes for SQLite, no for a server database
    # (run `llmgateway db upgrade` as a deploy step, so replicas of two versions do not race).
    migrate_on_start: bool | None = None
    # Records written per insert.
    batch_size: int = Field(default=500, gt=0, le=10_000)
    # The longest a record waits in the queue before its batch is written.
    flush_interval_s: Seconds = 0.2
    # Records waiting for the writer; beyond it they go to the spool file, never block the call.
    queue_bound: int = Field(default=50_000, gt=0)
    # Where records go while the database cannot take them; replayed when it is back. Default:
    # next to the config (a SQLite database: next to its file).
    spool_dir: Path | None = None
    # How often the writer tries a database that failed again.
    retry_interval_s: Seconds = 1.0
    # On shutdown, how long the writer may take to put what is queued into the database before
    # the rest goes to the spool.
    flush_timeout_s: Seconds = 5.0
    # A write that takes longer fails (and its batch is spooled): a hung database must not hold
    # records in memory.
    statement_timeout_s: Seconds = 10.0

    @model_validator(mode="after")
    def _spool_dir_known(self) -> LedgerSettings:
        if self.url is not None and self.spool_dir is None:
            url = self.url.get_secret_value()
            if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
                raise ValueError("ledger.spool_dir: needed with a server database (or an in-memory one)")
            database = Path(url.removeprefix("sqlite:///"))
            object.__setattr__(self, "spool_dir", database.with_name(database.name + "-spool"))
        return self

    @property
    def active(self) -> bool:
        """Whether calls are recorded."""
        return self.enabled and self.url is not None

    @property
    def migrates_on_start(self) -> bool:
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return self.url is not None and self.url.get_secret_value().startswith("sqlite")
