"""`llmgateway serve` as a real process, called through reflection with buf curl and grpcurl."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUF = ROOT / ".tools" / "buf" / "node_modules" / ".bin" / "buf"
CONFIG = """
server: {listen: "127.0.0.1:0", http_listen: "127.0.0.1:0", metrics_listen: null, drain_s: 0.2, grace_s: 2}
auth: {enabled: false}
providers: [{name: echo, type: echo}]
models: [{name: echo, deployments: [{provider: echo, model: echo}]}]
"""
# How long a `llmgateway serve` may take to start: seconds on a quiet machine, far more on a loaded one.
START_TIMEOUT_S = 120
REQUEST = {
    "model": "echo",
    "messages": [{"role": "ROLE_USER", "parts": [{"text": "hello from the outside"}]}],
}


def grpcurl_path() -> str | None:
    found = shutil.which("grpcurl")
    if found:
        return found
    gopath = subprocess.run(
        ["go", "env", "GOPATH"], capture_output=True, text=True, check=False
    ).stdout.strip()
    candidate = Path(gopath or Path.home() / "go") / "bin" / "grpcurl"
    return str(candidate) if candidate.exists() else None


class ServerProcess:
    """A `llmgateway serve` child process and the address it logged."""

    def __init__(
        self,
        config: Path,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        ready_lines: int = 1,
    ) -> None:
        self.config = config
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llmgateway", "serve", "--config", str(config), *args],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.log: list[str] = []
        self.listening = 0
        ready = threading.Event()
        self.address = ""

        def read_log() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.log.append(line)
                match = re.search(r"listening on (\S+:\d+)", line)
                if match:
                    self.address = match.group(1)
                    self.listening += 1
                    if self.listening >= ready_lines:
                        ready.set()
            ready.set()

        self._reader = threading.Thread(target=read_log, daemon=True)
        self._reader.start()
        assert ready.wait(START_TIMEOUT_S), "the server did not start"
        assert self.address, "".join(self.log)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        return code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = tmp_path_factory.mktemp("serve") / "config.yaml"
    config.write_text(CONFIG)
    process = ServerProcess(config)
    yield process
    if process.process.poll() is None:
        process.process.kill()


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"{command[0]} failed: {result.stderr}"
    return result.stdout


def test_logs_the_bound_address(server: ServerProcess) -> None:
    host, port = server.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0


def test_buf_curl_unary_through_reflection(server: ServerProcess) -> None:
    assert BUF.exists(), "buf is installed by `make install` (npm @bufbuild/buf)"
    output = run(
        str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
        "--data", json.dumps(REQUEST), f"http://{server.address}/llmgateway.v1.ChatService/Chat",
    )  # fmt: skip
    response = json.loads(output)
    assert response["message"]["parts"] == [{"text": "hello from the outside"}]
    assert response["finishReason"] == "FINISH_REASON_STOP"
    assert response["provider"] == "echo"


def test_buf_curl_stream_through_reflection(server: ServerProcess) -> None:
    output = run(
        str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
        "--data", json.dumps(REQUEST), f"http://{server.address}/llmgateway.v1.ChatService/ChatStream",
    )  # fmt: skip
    messages = [json.loads(chunk) for chunk in re.split(r"(?<=\})\n(?=\{)", output.strip())]
    assert messages[0]["provider"] == "echo"
    assert "".join(m.get("delta", {}).get("text", "") for m in messages) == "hello from the outside"
    assert "usage" in messages[-1]


def test_grpcurl_through_reflection(server: ServerProcess) -> None:
    grpcurl = grpcurl_path()
    if grpcurl is None:
        pytest.skip("grpcurl is not installed (make tools)")
    services = run(grpcurl, "-plaintext", server.address, "list").split()
    assert {"llmgateway.v1.ChatService", "llmgateway.v1.ModelService", "grpc.health.v1.Health"} <= set(
        services
    )
    response = json.loads(
        run(
            grpcurl, "-plaintext", "-d", json.dumps(REQUEST), server.address, "llmgateway.v1.ChatService/Chat"
        )
    )
    assert response["message"]["parts"] == [{"text": "hello from the outside"}]
    health = json.loads(
        run(
            grpcurl,
            "-plaintext",
            "-d",
            '{"service": "llmgateway.v1.ChatService"}',
            server.address,
            "grpc.health.v1.Health/Check",
        )
    )
    assert health == {"status": "SERVING"}


def test_sighup_reloads_the_config(server: ServerProcess) -> None:
    def models() -> list[str]:
        output = run(
            str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--data", "{}",
            f"http://{server.address}/llmgateway.v1.ModelService/ListModels",
        )  # fmt: skip
        return [model["name"] for model in json.loads(output)["models"]]

    assert models() == ["echo"]
    server.config.write_text(
        CONFIG.replace("models: [", "models: [{name: echo2, deployments: [{provider: echo, model: e2}]}, ")
    )
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while models() != ["echo", "echo2"]:
        assert time.monotonic() < deadline, "the reload did not take effect"
        time.sleep(0.1)
    assert any("config reloaded" in line for line in server.log)


def test_sigterm_drains_and_exits_cleanly(server: ServerProcess) -> None:
    assert server.stop() == 0
    log = "".join(server.log)
    assert "draining" in log and "stopped" in log


def test_a_sigterm_during_start_still_ends_in_a_clean_shutdown(tmp_path: Path) -> None:
    """SIGTERM while the gateway is starting (here: as its start ends, before `serve` would have
    installed its handlers) is held until the start is done, then drains and exits 0."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    code = (
        "import asyncio, os, signal, sys\n"
        "from llmgateway import app\n"
        "from llmgateway.config import load_config\n"
        "from llmgateway.observability.logging_setup import configure_logging\n"
        "configure_logging('text', 'INFO')\n"
        "start = app.Gateway.start\n"
        "async def start_then_signalled(self):\n"
        "    await start(self)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    await asyncio.sleep(0)  # the signal is handled (or kills the process) here\n"
        "app.Gateway.start = start_then_signalled\n"
        f"asyncio.run(app.serve(load_config(__import__('pathlib').Path({str(config)!r}))))\n"
        "print('returned')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "returned" in done.stdout and "stopped" in done.stderr
