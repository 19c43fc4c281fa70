"""Two gateways never share a port: a second `llmgateway serve` on a port the first one holds (gRPC,
HTTP doors or metrics) exits non-zero with one line naming the port, and the first keeps every call.
The listener flags (`--listen`, `--http-listen`, `--metrics-listen`, "" for off) and their config
twins. Real processes, real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import yaml

from llmgateway.config import ConfigError, GatewayConfig
from llmgateway.process.port_claims import PortClaims, PortUnavailableError, claim_port
from llmgateway.v1 import models_pb2, models_pb2_grpc
from tests.test_serve_subprocess import START_TIMEOUT_S, ServerProcess
from tests.test_workers import free_port

# Each test starts gateway processes (seconds each on a quiet machine, a minute on a loaded one).
pytestmark = pytest.mark.timeout(600)
LISTENERS = ("listen", "http_listen", "metrics_listen")


def config_file(directory: Path, model: str, **server: str | None) -> Path:
    """A config serving one echo model named `model` on the given listeners (others on port 0)."""
    listeners = dict.fromkeys(LISTENERS, "127.0.0.1:0") | server
    config = {
        "server": {**listeners, "drain_s": 0.1, "grace_s": 1},
        "auth": {"enabled": False},
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [{"name": model, "deployments": [{"provider": "echo", "model": "echo"}]}],
        "observability": {"log_format": "text"},
    }
    path = directory / f"{model}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def serve_briefly(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`llmgateway serve` that is expected to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "llmgateway", "serve", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


def model_names(address: str) -> list[str]:
    """ListModels on a fresh channel (a new connection, which SO_REUSEPORT would spread)."""
    with grpc.insecure_channel(address) as channel:
        reply = models_pb2_grpc.ModelServiceStub(channel).ListModels(
            models_pb2.ListModelsRequest(), timeout=10
        )
    return [model.name for model in reply.models]


class First:
    def __init__(self, process: ServerProcess, ports: dict[str, int]) -> None:
        self.process = process
        self.ports = ports


@pytest.fixture(scope="module", params=[1, 2], ids=["one-process", "two-workers"])
def first(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[First]:
    """The gateway that came first, serving `model-a` on fixed ports."""
    workers: int = request.param
    ports = {name: free_port() for name in LISTENERS}
    config = config_file(
        tmp_path_factory.mktemp("first"),
        "model-a",
        **{name: f"127.0.0.1:{port}" for name, port in ports.items()},
    )
    process = ServerProcess(config, args=("--workers", str(workers)), ready_lines=workers)
    yield First(process, ports)
    assert process.stop() == 0


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_second_gateway_on_a_taken_port_exits_with_one_line(
    first: First, listener: str, tmp_path: Path
) -> None:
    port = first.ports[listener]
    second = config_file(tmp_path, "model-b", **{listener: f"127.0.0.1:{port}"})
    result = serve_briefly(second)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0] and "already in use by another llmgateway" in lines[0]
    assert "Traceback" not in result.stderr
    # The first gateway kept the port to itself: every new connection reaches it.
    grpc_address = f"127.0.0.1:{first.ports['listen']}"
    assert [name for _ in range(8) for name in model_names(grpc_address)] == ["model-a"] * 8


def test_the_flags_override_the_file_and_collide_the_same(first: First, tmp_path: Path) -> None:
    second = config_file(tmp_path, "model-b")
    port = first.ports["metrics_listen"]
    result = serve_briefly(second, "--metrics-listen", f"127.0.0.1:{port}")
    assert result.returncode != 0
    assert f"port {port} (metrics listener 127.0.0.1:{port})" in result.stderr, result.stderr


def test_a_port_held_by_another_program_is_refused_too(tmp_path: Path) -> None:
    # A stranger that would share the port (SO_REUSEPORT, same user) and is no gateway.
    with socket.socket() as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        result = serve_briefly(config_file(tmp_path, "model-b", listen=f"127.0.0.1:{port}"))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {port}" in lines[0], result.stderr
    assert "already in use by another process" in lines[0]


def test_two_listeners_of_one_gateway_on_one_port_are_refused(tmp_path: Path) -> None:
    port = free_port()
    config = config_file(tmp_path, "model-a", listen=f"127.0.0.1:{port}", metrics_listen=f"127.0.0.1:{port}")
    result = serve_briefly(config)
    assert result.returncode != 0
    assert f"port {port} is given to two listeners: gRPC and metrics" in result.stderr, result.stderr


def test_metrics_and_http_switched_off_by_flag(tmp_path: Path) -> None:
    metrics_port, http_port = free_port(), free_port()
    config = config_file(
        tmp_path, "model-a", metrics_listen=f"127.0.0.1:{metrics_port}", http_listen=f"127.0.0.1:{http_port}"
    )
    gateway = ServerProcess(config, args=("--metrics-listen", "", "--http-listen", ""))
    try:
        assert model_names(gateway.address) == ["model-a"]
        for port in (metrics_port, http_port):
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert not any("metrics on" in line or "HTTP front doors" in line for line in gateway.log)
    finally:
        assert gateway.stop() == 0


def test_listener_flags_move_every_listener(tmp_path: Path) -> None:
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    flags = (
        "--listen", f"127.0.0.1:{grpc_port}",
        "--http-listen", f"127.0.0.1:{http_port}",
        "--metrics-listen", f"127.0.0.1:{metrics_port}",
    )  # fmt: skip
    gateway = ServerProcess(config_file(tmp_path, "model-a"), args=flags)
    try:
        assert model_names(f"127.0.0.1:{grpc_port}") == ["model-a"]
        assert httpx.get(f"http://127.0.0.1:{http_port}/health/live", timeout=5).status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert metrics.status_code == 200 and "llmgateway" in metrics.text
    finally:
        assert gateway.stop() == 0


def test_an_empty_address_in_the_file_switches_a_listener_off() -> None:
    config = GatewayConfig.model_validate({"server": {"metrics_listen": "", "http_listen": ""}})
    assert config.server.metrics_listen is None and config.server.http_listen is None
    moved = config.with_listeners(metrics_listen="127.0.0.1:9999", http_listen="")
    assert moved.server.metrics_listen == "127.0.0.1:9999" and moved.server.http_listen is None
    with pytest.raises(ValueError, match="listen"):
        GatewayConfig.model_validate({"server": {"listen": ""}})


def test_a_flag_that_leaves_the_status_page_nowhere_is_a_config_error() -> None:
    """`--metrics-listen ""` with the status page on: one line naming the field, no traceback."""
    config = GatewayConfig.model_validate({"server": {"status_page": {"enabled": True}}})
    with pytest.raises(ConfigError, match=r"^server: status_page\.enabled needs metrics_listen"):
        config.with_listeners(metrics_listen="")


def test_a_claim_holds_until_released_and_port_0_needs_none() -> None:
    port = free_port()
    first = PortClaims()
    claim_port(f"127.0.0.1:{port}", "gRPC", first)
    with pytest.raises(PortUnavailableError, match=f"port {port} .* another llmgateway"):
        claim_port(f"0.0.0.0:{port}", "HTTP", PortClaims())
    first.release()
    again = PortClaims()
    claim_port(f"0.0.0.0:{port}", "HTTP", again)
    claim_port("127.0.0.1:0", "metrics", again)
    assert len(again.locks) == 1
    again.release()
