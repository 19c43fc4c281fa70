"""Installs from this repository are reproducible: every tool and package comes from a lock or a
fixed version, and the published Python packages ask for at least what their generated stubs need."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
STUBS = ROOT / "clients/python/src/llmgateway/v1"
MAKEFILES = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
SCRIPTS = [ROOT / ".ci/run", *sorted((ROOT / "clients/testdata").glob("*.sh"))]


def _recipes() -> list[tuple[str, str]]:
    """(file, line) for every line of the Makefiles and CI scripts but comments."""
    return [
        (path.relative_to(ROOT).as_posix(), line)
        for path in [*MAKEFILES, *SCRIPTS]
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]


def _lower_bound(pyproject: Path, name: str) -> Version:
    """The `>=` bound a pyproject's [project] dependencies give the named package."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    for text in dependencies:
        requirement = Requirement(text)
        if requirement.name == name:
            bounds = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
            assert bounds, f"{pyproject.name}: {name} has no lower bound"
            return max(bounds)
    raise AssertionError(f"{pyproject.name} does not depend on {name}")


def _generated_versions() -> tuple[Version, Version]:
    """(grpcio, protobuf) versions the committed stubs check for at import."""
    grpc_versions = {
        Version(match)
        for path in STUBS.glob("*_pb2_grpc.py")
        for match in re.findall(r"GRPC_GENERATED_VERSION = '([^']+)'", path.read_text())
    }
    protobuf_versions = {
        Version(".".join(match))
        for path in STUBS.glob("*_pb2.py")
        for match in re.findall(
            r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),",
            path.read_text(),
        )
    }
    assert len(grpc_versions) == 1, grpc_versions
    assert len(protobuf_versions) == 1, protobuf_versions
    return grpc_versions.pop(), protobuf_versions.pop()


@pytest.mark.parametrize("pyproject", ["clients/python/pyproject.toml", "pyproject.toml"])
def test_published_bounds_cover_the_generated_stubs(pyproject: str) -> None:
    # The stubs refuse to import under an older grpcio or protobuf than the generator's, so a lower
    # bound below it would let users install a client that fails at its first import.
    grpc_version, protobuf_version = _generated_versions()
    assert _lower_bound(ROOT / pyproject, "grpcio") >= grpc_version
    assert _lower_bound(ROOT / pyproject, "protobuf") >= protobuf_version


def test_the_generator_is_the_locked_one() -> None:
    # check-gen regenerates with the locked grpcio-tools: the committed stubs must name that version.
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {package["name"]: Version(package["version"]) for package in lock["package"]}
    assert _generated_versions()[0] == locked["grpcio-tools"]


def test_the_lock_covers_every_dependency_group() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    root = next(package for package in lock["package"] if package["name"] == "llmgateway")
    assert set(root["dev-dependencies"]) == set(project["dependency-groups"])


def test_python_packages_come_only_from_the_lock() -> None:
    # pip installs uv alone, by hash; every other Python install is `$(call uv_sync,...)`, i.e.
    # `uv sync --locked`, which checks the lock's hashes and fails when a pyproject.toml disagrees.
    pip_lines = [(name, line) for name, line in _recipes() if re.search(r"\bpip3? install\b", line)]
    assert pip_lines, "the uv bootstrap is gone"
    for name, line in pip_lines:
        assert "--require-hashes" in line, (name, line)
    definition = next(line for _, line in _recipes() if line.startswith("uv_sync "))
    assert "sync --locked" in definition
    for name, line in _recipes():
        assert not re.search(r"\buv\)? (sync|pip install|pip sync|add)\b", line), (name, line)


def test_other_toolchains_install_fixed_versions() -> None:
    for name, line in _recipes():
        assert "@latest" not in line, (name, line)
        assert not re.search(r"\bnpm (install|i)\b", line), (name, line)  # npm ci reads the lock
    for lock in [
        "clients/typescript/package-lock.json",
        "toolchain/buf/package-lock.json",
        "tests/sdk/node/package-lock.json",
    ]:
        assert (ROOT / lock).is_file(), lock
    for module in ["clients/go", "deploy/envoy/validate", "clients/release/goproxy"]:
        assert (ROOT / module / "go.sum").is_file(), module
    assert (ROOT / "clients/rust/Cargo.lock").is_file()
    cargo_lines = [line for _, line in _recipes() if re.search(r"\bcargo (run|test|build)\b", line)]
    assert cargo_lines and all("--locked" in line for line in cargo_lines), cargo_lines


def test_maven_builds_name_every_plugin_version() -> None:
    # Maven takes unnamed plugin versions from whichever Maven runs the build.
    pom = (ROOT / "clients/java/pom.xml").read_text()
    plugins = re.findall(r"<plugin>(.*?)</plugin>", pom, flags=re.S)
    assert plugins
    for plugin in plugins:
        assert re.search(r"<version>\d[^<]*</version>", plugin), plugin
    for artifact in [
        "maven-resources-plugin",
        "maven-jar-plugin",
        "maven-clean-plugin",
        "maven-install-plugin",
    ]:
        assert artifact in pom, artifact
    assert not re.search(r"<version>[\[(]", pom), "a version range"


def test_the_sdks_judging_the_http_doors_are_pinned_exactly() -> None:
    # The npm SDKs are the doors' judges: a new release must be a deliberate change of the lock.
    package = json.loads((ROOT / "tests/sdk/node/package.json").read_text())
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)
    makefile = (ROOT / "mk/sdk-node.mk").read_text()
    assert "npm ci" in makefile and re.search(r"^pytest: .*node_modules/\.installed", makefile, re.M)
