"""Every client installed the way its README says, from an artifact built here, in a scratch project
outside the repository, running the README's example as written against the live gateway that
harness.py started (skipped when LLMGATEWAY_TEST_ADDR is not set).

The install command and the example are read from each README, so the test fails when a README
drifts from what works. Two substitutions only: the gateway's address for `localhost:50051` and the
harness's key for `llmgw-...` (the harness serves the examples' model, gpt-4o-mini, with the echo
provider). Each artifact is what its registry would serve: a wheel (`uv build`), an npm tarball
(`npm pack`), the jar and pom in the local Maven repository (`mvn install`), the packaged crate
(`cargo package`), and a Go module proxy (GOPROXY=file://) holding the module at its version, so
`go get` resolves it by version exactly as it would a tagged release.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"
VERSION = (CLIENTS / "VERSION").read_text().strip()
ADDRESS = os.environ.get("LLMGATEWAY_TEST_ADDR", "")
API_KEY = os.environ.get("LLMGATEWAY_TEST_API_KEY", "")
# The same pinned plugin mk/clients.mk uses, so Maven resolves no other version of it.
MAVEN_DEP_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

UV = ROOT / ".tools/uv/bin/uv"

pytestmark = [
    pytest.mark.skipif(
        not ADDRESS, reason="LLMGATEWAY_TEST_ADDR is not set: run through clients/testdata/harness.py"
    ),
    pytest.mark.timeout(900),  # each builds a package and a project from cold, on a shared machine
]


def fenced(readme: Path, language: str) -> str:
    """The first ```language block of a README."""
    found = re.search(rf"^```{language}\n(.*?)^```$", readme.read_text(), re.MULTILINE | re.DOTALL)
    assert found, f"{readme.relative_to(ROOT)} has no ```{language} block"
    return found.group(1)


def install_command(readme: Path) -> list[str]:
    """The README's first shell block, which must be one command: the install."""
    lines = [line for line in fenced(readme, "bash").splitlines() if line.strip()]
    assert len(lines) == 1, f"{readme.relative_to(ROOT)}: the install block should be one command: {lines}"
    return shlex.split(lines[0])


def live(example: str) -> str:
    """The example pointed at the harness's gateway and key."""
    assert "localhost:50051" in example, "the example names no gateway address"
    assert "llmgw-..." in example, "the example sends no API key"
    return example.replace("localhost:50051", ADDRESS).replace("llmgw-...", API_KEY)


def run(command: list[str | Path], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(  # noqa: S603 (our own build tools)
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{shlex.join(map(str, command))} (in {cwd}) failed:\n{output}"
    return result.stdout


def check_output(output: str, streamed: str) -> None:
    """The example's unary reply came from the echo provider, and its stream's text followed."""
    assert "retry in" not in output, output  # the examples print a GatewayError so
    assert "Hello!" in output, output
    assert "echo" in output, output
    assert streamed in output, output


def outside(tmp_path: Path) -> Path:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert ROOT not in scratch.parents, "the scratch project must live outside the repository"
    return scratch


def test_python_wheel(tmp_path: Path) -> None:
    readme = CLIENTS / "python/README.md"
    command = install_command(readme)
    assert command[:2] == ["pip", "install"], command
    dist = tmp_path / "dist"
    run(
        [
            ROOT / ".tools/uv/bin/uv",
            "build",
            "--quiet",
            "--package",
            "llmgateway-client",
            "--wheel",
            "--out-dir",
            dist,
        ],
        ROOT,
    )
    assert (dist / f"llmgateway_client-{VERSION}-py3-none-any.whl").exists()
    scratch = outside(tmp_path)
    run([UV, "venv", "--quiet", "--python", sys.executable, scratch / "venv"], scratch)
    # The README's command, told where the unpublished wheel is; the dependencies come from PyPI.
    # uv's pip interface (same requirements, same resolution) rather than pip, for its cache.
    python = scratch / "venv/bin/python"
    run([UV, "pip", *command[1:], "--quiet", "--python", python, "--find-links", dist], scratch)
    (scratch / "example.py").write_text(live(fenced(readme, "python")))
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    check_output(run([python, "example.py"], scratch, env), "Count to ten")


def test_typescript_tarball(tmp_path: Path) -> None:
    package_dir = CLIENTS / "typescript"
    readme = package_dir / "README.md"
    command = install_command(readme)
    assert command[:2] == ["npm", "install"], command
    assert "llmgateway-grpc" in command, command
    dist = tmp_path / "dist"
    dist.mkdir()
    run(["npm", "pack", "--silent", "--pack-destination", dist], package_dir)  # prepack compiles
    tarball = dist / f"llmgateway-grpc-{VERSION}.tgz"
    assert tarball.exists(), list(dist.iterdir())
    scratch = outside(tmp_path)
    (scratch / "package.json").write_text(json.dumps({"name": "scratch", "private": True, "type": "module"}))
    run(
        [
            *(str(tarball) if word == "llmgateway-grpc" else word for word in command),
            "--no-audit",
            "--no-fund",
        ],
        scratch,
    )
    (scratch / "example.ts").write_text(live(fenced(readme, "ts")))
    # The repository's own TypeScript compiler and Node types, rather than a second download.
    tsconfig = {
        "compilerOptions": {
            "target": "ES2022",
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "strict": True,
            "skipLibCheck": True,
            "typeRoots": [str(package_dir / "node_modules/@types")],
            "types": ["node"],
        },
        "files": ["example.ts"],
    }
    (scratch / "tsconfig.json").write_text(json.dumps(tsconfig))
    run([package_dir / "node_modules/.bin/tsc", "-p", "."], scratch)
    check_output(run(["node", "example.js"], scratch), "Count to ten")


def test_java_from_the_local_maven_repository(tmp_path: Path) -> None:
    readme = CLIENTS / "java/README.md"
    run(
        ["mvn", "-q", "-B", "-ntp", "install", "-Dmaven.test.skip=true", "-f", CLIENTS / "java/pom.xml"], ROOT
    )
    scratch = outside(tmp_path)
    (scratch / "pom.xml").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <modelVersion>4.0.0</modelVersion>\n'
        "  <groupId>scratch</groupId><artifactId>scratch</artifactId><version>0</version>\n"
        f"  <dependencies>\n{fenced(readme, 'xml')}  </dependencies>\n</project>\n"
    )
    run(
        ["mvn", "-q", "-B", "-ntp", f"{MAVEN_DEP_PLUGIN}:build-classpath", "-Dmdep.outputFile=cp.txt"],
        scratch,
    )
    classpath = (scratch / "cp.txt").read_text().strip()
    (scratch / "Example.java").write_text(live(fenced(readme, "java")))
    run(["javac", "-cp", classpath, "-d", "classes", "Example.java"], scratch)
    output = run(["java", "-cp", f"{classpath}:classes", "Example"], scratch)
    check_output(output, "Count")
    assert "Later" in output, output


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_rust_packaged_crate(tmp_path: Path) -> None:
    crate_dir = CLIENTS / "rust"
    readme = crate_dir / "README.md"
    dependencies = fenced(readme, "toml")
    assert f'llmgateway-client = "{VERSION}"' in dependencies, dependencies
    run(["cargo", "package", "--quiet", "--no-verify", "--allow-dirty", "-p", "llmgateway-client"], crate_dir)
    target = Path(os.environ.get("CARGO_TARGET_DIR", crate_dir / "target"))
    with tarfile.open(target / f"package/llmgateway-client-{VERSION}.crate") as crate:
        crate.extractall(tmp_path / "crates", filter="data")
    scratch = outside(tmp_path)
    # The README's dependencies as written; [patch] serves the packaged crate for the crates.io name.
    (scratch / "Cargo.toml").write_text(
        '[package]\nname = "scratch"\nversion = "0.0.0"\nedition = "2021"\n\n'
        f"{dependencies}\n[patch.crates-io]\n"
        f'llmgateway-client = {{ path = "{tmp_path / "crates" / f"llmgateway-client-{VERSION}"}" }}\n'
    )
    # The versions the repository's lock tested, so the shared CARGO_TARGET_DIR's builds are reused.
    shutil.copy(crate_dir / "Cargo.lock", scratch / "Cargo.lock")
    (scratch / "src").mkdir()
    (scratch / "src/main.rs").write_text(live(fenced(readme, "rust")))
    check_output(run(["cargo", "run", "--quiet"], scratch), "Count to ten")


def test_go_module_by_version(tmp_path: Path) -> None:
    module_dir = CLIENTS / "go"
    readme = module_dir / "README.md"
    command = install_command(readme)
    assert command[:2] == ["go", "get"], command
    proxy = tmp_path / "goproxy"
    run(["go", "run", ".", module_dir, f"v{VERSION}", proxy], CLIENTS / "release/goproxy")
    scratch = outside(tmp_path)
    module_cache = run(["go", "env", "GOMODCACHE"], scratch).strip()
    env = {
        **os.environ,
        # The module from the proxy built above; its dependencies from the module cache.
        "GOPROXY": f"file://{proxy},file://{module_cache}/cache/download",
        # Not published, so the checksum database has never seen it.
        "GONOSUMDB": "github.com/llmgateway/llmgateway",
        "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -mod=mod".strip(),
    }
    run(["go", "mod", "init", "example.com/scratch"], scratch, env)
    # The dependencies' hashes, as the repository's go.sum has them (verified when it was made):
    # the checksum database that would vouch for them is not reachable from every machine.
    shutil.copy(module_dir / "go.sum", scratch / "go.sum")
    run(command, scratch, env)
    assert f"github.com/llmgateway/llmgateway/clients/go v{VERSION}" in (scratch / "go.mod").read_text()
    (scratch / "main.go").write_text(live(fenced(readme, "go")))
    check_output(run(["go", "run", "."], scratch, env), "Hello!")
