"""What a reliability test counts before and after a fault: asyncio tasks, this process's sockets,
and the TCP connections to and from one port (both ends live in this process when the upstream is
a simulator thread), read from /proc so nothing is sampled through the code under test."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# /proc/net/tcp state codes
ESTABLISHED = "01"
LISTEN = "0A"


def _socket_inodes() -> set[int]:
    inodes: set[int] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listdir and readlink
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _tcp_table() -> dict[int, tuple[int, int, str]]:
    """inode → (local port, remote port, state) for every TCP socket on the host."""
    table: dict[int, tuple[int, int, str]] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if inode:
                table[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), state)
    return table


@dataclass(frozen=True)
class Snapshot:
    tasks: int
    sockets: int
    # Connections of this process towards `port` (the gateway's upstream side) ...
    to_port: int
    # ... and accepted by the listener on `port` (the simulator's side), both ESTABLISHED.
    at_port: int


def snapshot(port: int | None = None) -> Snapshot:
    inodes = _socket_inodes()
    table = _tcp_table()
    mine = [table[i] for i in inodes if i in table]
    to_port = sum(
        1 for _, remote, state in mine if port is not None and remote == port and state == ESTABLISHED
    )
    at_port = sum(
        1 for local, _, state in mine if port is not None and local == port and state == ESTABLISHED
    )
    return Snapshot(len(asyncio.all_tasks()), len(inodes), to_port, at_port)


async def settle_to(baseline: Snapshot, port: int | None, timeout: float = 3.0) -> Snapshot:
    """Poll until the counts are back to `baseline` (closing sockets and finishing tasks take a few
    loop turns); the last snapshot either way, for the caller to compare."""
    return await settle_until(lambda now: now == baseline, port, timeout)


async def settle_until(
    settled: Callable[[Snapshot], bool], port: int | None, timeout: float = 3.0
) -> Snapshot:
    """Poll until `settled(snapshot)`; the last snapshot either way, for the caller to check."""
    deadline = time.monotonic() + timeout
    while True:
        now = snapshot(port)
        if settled(now) or time.monotonic() >= deadline:
            return now
        await asyncio.sleep(0.02)


def growth_per_round(values: list[int]) -> float:
    """How much a count of live allocations grows per round: the least-squares slope over the
    rounds after the warm-up.

    Why this and not RSS: RSS keeps the high-water mark of whatever ran at once (CPython seldom
    returns freed arenas), so one round that happened to overlap more streams, because the machine
    was busy, reads as growth. Live blocks and objects after a collection count only what is still
    held, and a slope over several rounds is not moved by one round's noise the way one difference
    is; a leak adds the same amount every round."""
    return statistics.linear_regression(range(len(values)), values).slope


def trend_per_second(times: list[float], values: list[int]) -> float:
    """The Theil-Sen slope of a sampled series (the median of the slopes between every two samples):
    a leak shows as a steady rise, while the steps an allocator takes now and then (a new arena, a
    pool reaching a new size) move a median of pairwise slopes far less than a least-squares line or a
    difference of the first and last samples."""
    slopes = [
        (values[j] - values[i]) / (times[j] - times[i])
        for i in range(len(times))
        for j in range(i + 1, len(times))
        if times[j] > times[i]
    ]
    return statistics.median(slopes) if slopes else 0.0


def rss_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
