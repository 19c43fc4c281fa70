"""The server process freezes its long-lived objects and uses the configured collector thresholds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_serve_subprocess import CONFIG, ServerProcess


def test_settle_freezes_and_sets_thresholds() -> None:
    # In a child interpreter: the collector's settings are process-wide.
    code = (
        "import gc, json\n"
        "from llmgateway.config import ServerSettings\n"
        "from llmgateway.process.gc_tuning import settle\n"
        "settle(ServerSettings(gc_thresholds=(5000, 20, 30)))\n"
        "print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    thresholds, frozen = json.loads(output)
    assert thresholds == [5000, 20, 30]
    assert frozen > 10_000  # the imported gateway is far more than that


def test_serve_settles_the_collector_after_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    server = ServerProcess(config, args=("--workers", "1"))
    try:
        assert server.stop() == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
    lines = [line for line in server.log if "garbage collector:" in line]
    assert lines, "".join(server.log)
    assert "thresholds (10000, 50, 100)" in lines[0]
