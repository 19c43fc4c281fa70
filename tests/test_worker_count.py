"""How many workers `serve` starts: explicit counts win; otherwise one per usable core, capped by the
cgroup CPU quota, and one when the memory store would split limits, budgets or the cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from llmgateway.process.worker_count import available_cores, worker_count
from tests.conftest import ECHO_CONFIG, gateway_config

AFFINITY = len(os.sched_getaffinity(0))


def _config(**extra: Any) -> Any:
    return gateway_config({**ECHO_CONFIG, **extra})


def _cgroup_v2(root: Path, cpu_max: str) -> Path:
    (root / "cpu.max").write_text(cpu_max + "\n")
    return root


def test_unlimited_cgroup_uses_the_affinity(tmp_path: Path) -> None:
    assert available_cores(_cgroup_v2(tmp_path, "max 100000")) == AFFINITY
    assert available_cores(tmp_path / "missing") == AFFINITY


@pytest.mark.parametrize(
    ("cpu_max", "cores"), [("100000 100000", 1), ("150000 100000", 2), ("50000 100000", 1)]
)
def test_cgroup_v2_quota_caps_the_count(tmp_path: Path, cpu_max: str, cores: int) -> None:
    assert available_cores(_cgroup_v2(tmp_path, cpu_max)) == min(AFFINITY, cores)


def test_cgroup_v1_quota_caps_the_count(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cores(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert available_cores(tmp_path) == AFFINITY


def test_default_is_one_per_core_for_a_stateless_config(tmp_path: Path) -> None:
    assert worker_count(None, _config(), _cgroup_v2(tmp_path, "max 100000")) == AFFINITY


def test_explicit_counts_win(tmp_path: Path) -> None:
    root = _cgroup_v2(tmp_path, "max 100000")
    assert worker_count(3, _config(), root) == 3
    assert worker_count(None, _config(server={"workers": 5}), root) == 5
    assert worker_count(2, _config(server={"workers": 5}), root) == 2


@pytest.mark.skipif(AFFINITY < 2, reason="needs two usable cores")
def test_memory_store_with_limits_defaults_to_one_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stateful = _config(tenants=[{"name": "t", "rpm": 10}])
    with caplog.at_level(logging.WARNING):
        assert worker_count(None, stateful, _cgroup_v2(tmp_path, "max 100000")) == 1
    assert "store.backend redis" in caplog.text
    # With Redis the limits span workers: one per core again.
    shared = _config(
        tenants=[{"name": "t", "rpm": 10}], store={"backend": "redis", "redis_url": "redis://127.0.0.1:1"}
    )
    assert worker_count(None, shared, _cgroup_v2(tmp_path, "max 100000")) == AFFINITY
