"""The Dockerfile's steps, checked on every `make test` without a container engine (building and
running the image itself is `make check-image`, minutes cold: mk/deploy.mk). The build stage's
ENV, WORKDIR, COPY and RUN steps run as written in a scratch directory standing for the image's
root, with the host's python3 as the base's; the virtualenv they make must serve, and as PID 1 of
a PID namespace (as in a container) drain on SIGTERM and exit 0. Every COPY source must exist and
pass .dockerignore, and the runtime stage must be non-root with an exec-form entrypoint."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_workers import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# uv sync into an empty virtualenv and a gateway start: seconds with a warm uv cache.
pytestmark = pytest.mark.timeout(900)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments and ARG dropped."""
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", DOCKERFILE.read_text())
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            split.append([])
        if split:
            split[-1].append(instruction)
    return split


def ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore's verdict on `path` (the last matching pattern wins; `!` lets back in)."""
    verdict = False
    for pattern in patterns:
        allow = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, bare) for prefix in prefixes) or fnmatch.fnmatch(path, bare):
            verdict = not allow
    return verdict


def test_every_copy_source_exists_and_passes_dockerignore() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [args for name, args in instructions() if name == "COPY" and "--from" not in args]
    assert copies
    for args in copies:
        for source in shlex.split(args)[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            files = [ROOT / source] if (ROOT / source).is_file() else (ROOT / source).rglob("*.py")
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                assert not ignored(relative, patterns), f"COPY {source}: .dockerignore leaves out {relative}"
    assert ignored(".venv/bin/python", patterns) and ignored(".git/HEAD", patterns)


def test_the_runtime_stage_is_non_root_with_an_exec_form_entrypoint() -> None:
    build, runtime = stages()
    assert build[0][1].endswith("AS build") and runtime[0][1] == build[0][1].split()[0]
    settings = dict(runtime)
    assert settings["USER"] == "10001:10001"
    assert settings["ENTRYPOINT"] == '["llmgateway"]', "exec form: the gateway must be PID 1"
    assert "healthcheck.py" in settings["HEALTHCHECK"]
    runs = " ".join(args for name, args in build if name == "RUN")
    assert "uv sync --locked --no-dev" in runs and "--require-hashes" in runs


def run_build_stage(root: Path) -> dict[str, str]:
    """The build stage's steps, with the image's absolute paths moved under `root`."""

    def inside(text: str) -> str:
        return re.sub(r"(?<![\w.$/-])/(opt|src|root)\b", lambda match: f"{root}{match.group(0)}", text)

    build = stages()[0]
    env = {**os.environ}
    cwd = root
    for name, args in build[1:]:
        if name == "ENV":
            env.update(dict(item.split("=", 1) for item in shlex.split(inside(args))))
        elif name == "WORKDIR":
            cwd = Path(inside(args))
            cwd.mkdir(parents=True, exist_ok=True)
        elif name == "COPY":
            *sources, target = shlex.split(args)
            for source in sources:
                destination = cwd / target
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, destination, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    destination.mkdir(parents=True, exist_ok=True) if target.endswith("/") else None
                    shutil.copy(ROOT / source, destination)
        elif name == "RUN":
            # A cache mount only speeds builds up; here uv uses the host's own cache.
            command = re.sub(r"--mount=\S+\s*", "", args)
            subprocess.run(["bash", "-ec", inside(command)], cwd=cwd, env=env, check=True, timeout=600)
    return env


def test_the_build_steps_make_a_gateway_that_drains_as_pid_1(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) makes the PID namespace")
    env = run_build_stage(tmp_path)
    gateway = Path(env["UV_PROJECT_ENVIRONMENT"]) / "bin" / "llmgateway"
    assert not (tmp_path / "src" / ".venv").exists()
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        "server: {drain_s: 0.2, grace_s: 2}\nauth: {enabled: false}\n"
        "providers: [{name: echo, type: echo}]\nmodels: [{name: echo, deployments: [{provider: echo, model: echo}]}]\n"
    )
    # PID 1 of its own PID namespace, as ENTRYPOINT makes it in a container.
    command = [
        "unshare", "--pid", "--fork", "--mount-proc", str(gateway), "serve", "--config", str(config),
        "--listen", f"127.0.0.1:{port}", "--http-listen", "", "--metrics-listen", "", "--workers", "2",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        log = wait_for(process, "llmgateway listening on", times=2)  # both workers serve
        (pid_1,) = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        os.kill(int(pid_1), signal.SIGTERM)
        _, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, log + rest
    assert rest.count('"msg":"stopped"') == 2, rest


def wait_for(process: subprocess.Popen[str], text: str, times: int) -> str:
    assert process.stderr is not None
    lines = []
    deadline = time.monotonic() + 180
    for line in process.stderr:
        lines.append(line)
        if "".join(lines).count(text) == times:
            return "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
    raise AssertionError("".join(lines))
