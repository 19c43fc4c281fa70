"""Records the database could not take yet, in JSON-lines files on local disk, replayed later.

A folder may be shared by several processes (workers, a restarted gateway), so every file names
its owner and its state, and moves between states by rename (atomic on one file system):
`open-<pid>-<appender>-<n>.jsonl` is being appended to by its process; `ready-...` is sealed and
anyone may replay it; `replaying-<pid>-...` is claimed by the process replaying it, deleted once its
records are in the database. The files of a process that died (a crash, SIGKILL) are made ready
again by the next process that looks.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import orjson

from llmgateway.ledger.rows import Row, completed

_log = logging.getLogger(__name__)
_SUFFIX = ".jsonl"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _owner(path: Path) -> int | None:
    try:
        return int(path.name.split("-", 2)[1])
    except (IndexError, ValueError):
        return None


class SpoolAppender:
    """One writer's spool file in `folder`: appends are serialised by a lock of its own, so the
    call path (records beyond the queue's bound) never waits on the writer thread's appends."""

    _numbers = itertools.count()

    def __init__(self, folder: Path, name: str, *, sync: bool) -> None:
        self._folder, self._name, self._sync = folder, name, sync
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._path: Path | None = None

    def append(self, rows: Iterable[Row]) -> int:
        """Append `rows` (flushed to the OS; also to the disk when `sync`); how many."""
        lines = b"".join(orjson.dumps(row) + b"\n" for row in rows)
        if not lines:
            return 0
        with self._lock:
            if self._file is None:
                self._folder.mkdir(parents=True, exist_ok=True)
                self._path = self._folder / f"open-{os.getpid()}-{self._name}-{next(self._numbers)}{_SUFFIX}"
                self._file = self._path.open("ab")
            self._file.write(lines)
            self._file.flush()
            if self._sync:
                os.fsync(self._file.fileno())
        return lines.count(b"\n")

    def seal(self) -> None:
        """Close the current file and make it ready to replay (the next append opens another)."""
        with self._lock:
            if self._file is None or self._path is None:
                return
            self._file.close()
            self._path.rename(self._path.with_name("ready-" + self._path.name.removeprefix("open-")))
            self._file = self._path = None


class SpoolFolder:
    """The replaying side: which sealed files there are, claiming one, reading it, and done."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _adopt_orphans(self) -> None:
        """Files of processes that are gone: made ready again."""
        for path in self.folder.glob("open-*" + _SUFFIX):
            owner = _owner(path)
            if owner is not None and not _alive(owner):
                _rename_if_there(path, path.with_name("ready-" + path.name.removeprefix("open-")))
        for path in self.folder.glob("replaying-*" + _SUFFIX):
            owner = _owner(path)
            if owner is not None and not _alive(owner):
                self.release(path)

    def claim(self) -> list[Path]:
        """Sealed files, each renamed to this process's claim (one another process took first is
        left to it)."""
        if not self.folder.is_dir():
            return []
        self._adopt_orphans()
        claimed = []
        for path in sorted(self.folder.glob("ready-*" + _SUFFIX)):
            target = path.with_name(f"replaying-{os.getpid()}-" + path.name.removeprefix("ready-"))
            if _rename_if_there(path, target):
                claimed.append(target)
        return claimed

    def pending(self) -> int:
        """Files waiting to be replayed (any state)."""
        if not self.folder.is_dir():
            return 0
        return sum(1 for path in self.folder.glob("*" + _SUFFIX) if not path.name.startswith("rejected-"))

    @staticmethod
    def read(path: Path, chunk: int) -> Iterator[list[Row]]:
        """The file's records in lists of at most `chunk`. A torn last line (the process died in
        the middle of an append) is skipped: it never reached the spool whole."""
        rows: list[Row] = []
        with path.open("rb") as lines:
            for line in lines:
                try:
                    rows.append(completed(orjson.loads(line)))
                except orjson.JSONDecodeError:
                    _log.warning("ledger spool %s: skipped a torn record", path.name)
                    continue
                if len(rows) >= chunk:
                    yield rows
                    rows = []
        if rows:
            yield rows

    def keep_rejected(self, rows: list[Row]) -> None:
        """Records the database refused for their content (a bug to look into): kept in a file of
        their own, never replayed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"rejected-{os.getpid()}-{time.time_ns()}{_SUFFIX}"
        with path.open("ab") as rejected:
            rejected.write(b"".join(orjson.dumps(row) + b"\n" for row in rows))

    @staticmethod
    def release(path: Path) -> None:
        """Give a claimed file back (its replay failed): ready for the next try."""
        name = path.name.removeprefix("replaying-").split("-", 1)[1]
        _rename_if_there(path, path.with_name("ready-" + name))

    @staticmethod
    def done(path: Path) -> None:
        path.unlink(missing_ok=True)


def _rename_if_there(path: Path, target: Path) -> bool:
    try:
        path.rename(target)
    except FileNotFoundError:
        return False
    return True
