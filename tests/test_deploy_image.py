"""The container image, built from the Dockerfile and run with podman: `make check-image` builds it
and runs these with LLMGW_TEST_IMAGE naming it (skipped otherwise: the build needs buildah, podman
and a base image, see mk/deploy.mk). The gateway is PID 1, runs as uid 10001, answers its
HEALTHCHECK, and on SIGTERM drains and exits 0."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_workers import free_port

IMAGE = os.environ.get("LLMGW_TEST_IMAGE", "")
pytestmark = pytest.mark.skipif(not IMAGE or not shutil.which("podman"), reason="make check-image runs these")
# runc, with limits it may set: this machine's cgroup v1 setup refuses crun, and raising
# RLIMIT_NOFILE/NPROC above the sandbox's own limits.
PODMAN = ["podman", "--runtime", "runc"]
RUN = [*PODMAN, "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def podman(*args: str, timeout: float = 120) -> str:
    result = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
    return result.stdout + result.stderr  # `podman logs` gives the container's stderr on its own


def test_image_config_names_a_non_root_user_the_entrypoint_and_a_healthcheck() -> None:
    (config,) = json.loads(podman("image", "inspect", IMAGE))
    assert config["Config"]["User"] == "10001:10001"
    assert config["Config"]["Entrypoint"] == ["llmgateway"] and config["Config"]["Cmd"] == ["serve"]
    assert {"50051/tcp", "8080/tcp", "9464/tcp"} <= set(config["Config"]["ExposedPorts"])
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "/opt/llmgateway/healthcheck.py"]


def test_the_runtime_stage_has_no_build_tools_and_runs_as_10001() -> None:
    output = subprocess.run(
        [*RUN, "--rm", "--network", "none", "--entrypoint", "sh", IMAGE, "-c",
         "id -u; llmgateway version; command -v uv gcc || true; test -w / && echo writable-root || true"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.split()  # fmt: skip
    assert output == ["10001", "0.1.0"], output


CONFIG = "providers: [{name: echo, type: echo}]\nmodels: [{name: echo, deployments: [{provider: echo, model: echo}]}]\n"


@pytest.fixture(params=["built-in config", "mounted read-only config"])
def container(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    """The image serving its built-in config, or a config file mounted read-only as users and the
    chart mount it (the spend ledger must then write into the image's state folder, not beside it)."""
    grpc_port, http_port = free_port(), free_port()
    name = f"llmgateway-test-{grpc_port}"
    mount: list[str] = []
    serve = ["serve"]
    if request.param == "mounted read-only config":
        (tmp_path / "config.yaml").write_text(CONFIG)
        mount = ["-v", f"{tmp_path / 'config.yaml'}:/etc/llmgateway/config.yaml:ro"]
        serve += ["--config", "/etc/llmgateway/config.yaml"]
    podman(
        *RUN[len(PODMAN) :], "-d", "--name", name, "--network", "host", *mount,
        "-e", f"LLMGW_HEALTH_ADDRESS=127.0.0.1:{grpc_port}", IMAGE,
        *serve, "--listen", f"127.0.0.1:{grpc_port}", "--http-listen", f"127.0.0.1:{http_port}",
        "--metrics-listen", "",
    )  # fmt: skip
    try:
        yield name, grpc_port, http_port
    finally:
        subprocess.run([*PODMAN, "rm", "-f", name], capture_output=True, timeout=60, check=False)


def test_serves_answers_its_healthcheck_and_drains_on_sigterm_as_pid_1(
    container: tuple[str, int, int],
) -> None:
    name, _, http_port = container
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/health/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, podman("logs", name)
        time.sleep(0.5)
    pid_1 = podman("exec", name, "cat", "/proc/1/cmdline").split("\0")
    assert pid_1[1:3] == ["/opt/llmgateway/bin/llmgateway", "serve"], pid_1
    # The HEALTHCHECK command, as the engine runs it.
    podman("exec", name, "python", "/opt/llmgateway/healthcheck.py")
    started = time.monotonic()
    podman("stop", "--time", "60", name)  # SIGTERM; SIGKILL only after 60 s
    assert time.monotonic() - started < 50, "SIGTERM did not stop the gateway: it was killed"
    (state,) = json.loads(podman("inspect", name))
    assert state["State"]["ExitCode"] == 0, podman("logs", name)
    assert '"msg":"stopped"' in podman("logs", name)
