"""A throwaway PostgreSQL server for tests: initdb into a temporary folder, `postgres` on a free
loopback port with password (SCRAM) authentication, stoppable and restartable on the same port
with its data kept (what the outage tests need).

The binaries are the Debian `postgresql` package's (/usr/lib/postgresql/<version>/bin, which
mk/postgres.mk installs), else initdb on PATH. initdb and postgres refuse to run as root: as root
(CI machines), they run as the package's `postgres` user, through Popen's `user=`/`group=`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from tests.redis_server import free_port

USER = "llmgw"
# Test-only: the outage tests check that this never appears in logs, errors or the ledger.
PASSWORD = "pg-Secret-7f3a9c"
_DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin/initdb"


def find_postgres_bin() -> Path | None:
    """The newest Debian package's bin folder, else initdb's on PATH; None when neither exists."""
    found = sorted(glob.glob(_DEBIAN_BINARIES), key=lambda path: int(Path(path).parts[-3].split(".")[0]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run_as() -> dict[str, Any]:
    """Popen's arguments that drop root to the `postgres` user (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, but there is no `postgres` user to run PostgreSQL as") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder."""

    def __init__(self, bin_dir: Path, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port if port is not None else free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="llmgw-pg-")
        self.root = Path(self._dir.name)
        self.data = self.root / "data"
        self._process: subprocess.Popen[bytes] | None = None
        self._as = _run_as()
        if self._as:
            os.chown(self.root, self._as["user"], self._as["group"])
        self._initdb()

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _initdb(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD)
        if self._as:
            os.chown(password_file, self._as["user"], self._as["group"])
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                USER,
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            **self._as,
        )

    def start(self, timeout_s: float = 90.0) -> None:
        """Start (again) and wait until it answers; a loaded CI machine can take many seconds."""
        if self._process is not None:
            raise RuntimeError("postgres is already running")
        log_path = self.root / "postgres.log"
        logged_before = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.root),  # the Unix socket here, not /var/run/postgresql
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                **self._as,
            )
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                exited = self._process.poll()
                self.stop()
                tail = log_path.read_bytes()[logged_before:].decode(errors="replace")[-2000:]
                raise RuntimeError(f"postgres on port {self.port} did not start (exit {exited}):\n{tail}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url(driver="postgresql"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        """A new database; its SQLAlchemy URL."""
        with psycopg.connect(self.url(driver="postgresql"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """A fast shutdown (clients disconnected, as when a database is stopped or fails over)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
