"""How many worker processes `llmgateway serve` starts.

`--workers N` wins, then `server.workers` in the config; without either, one worker per core this
process may use: its CPU affinity, capped by a cgroup CPU quota (a container limited to 2 CPUs on a
64-core node gets 2, not 64). The one exception: with the memory store, rate limits, budgets and
the cache live in each process, so N workers would admit N times a key's limit. Then the default
is one worker and a warning says how to use more (Redis, or an explicit count).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from llmgateway.config import GatewayConfig

_log = logging.getLogger(__name__)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_cpu_limit(root: Path) -> float | None:
    """CPUs allowed by the cgroup quota (v2 `cpu.max`, or v1 `cpu.cfs_quota_us`), None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def available_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Cores this process may run on, rounded up from a fractional quota, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = _cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def per_process_state(config: GatewayConfig) -> bool:
    """Whether limits, budgets or the cache would be kept per process (the memory store)."""
    return config.store.backend == "memory" and bool(
        config.cache.enabled or config.tenants or config.auth.keys
    )


def worker_count(requested: int | None, config: GatewayConfig, cgroup_root: Path = CGROUP_ROOT) -> int:
    """The number of workers to start for `--workers requested` (None: not given)."""
    explicit = requested if requested is not None else config.server.workers
    if explicit is not None:
        if explicit > 1 and per_process_state(config):
            _log.warning(
                "with %d workers and store.backend memory, limits, budgets and the cache are per worker",
                explicit,
            )
        return explicit
    cores = available_cores(cgroup_root)
    if cores > 1 and per_process_state(config):
        _log.warning(
            "serving with 1 worker, not %d (one per core): with store.backend memory each worker would "
            "keep its own limits, budgets and cache. Use store.backend redis, or set --workers",
            cores,
        )
        return 1
    return cores
