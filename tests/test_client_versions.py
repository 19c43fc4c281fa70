"""The clients' one version (clients/VERSION) agrees with every package's metadata, and the check
that says so notices a place that drifts."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_versions() -> ModuleType:
    spec = importlib.util.spec_from_file_location("client_versions", ROOT / "clients/release/versions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


versions = load_versions()


def copy_places(tmp_path: Path) -> Path:
    for path in {versions.VERSION_FILE, *(place.path for place in versions.PLACES)}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    return tmp_path


def test_every_place_says_the_version_in_clients_version() -> None:
    assert versions.disagreements() == []


def test_a_place_that_drifts_is_named(tmp_path: Path) -> None:
    root = copy_places(tmp_path)
    pom = root / "clients/java/pom.xml"
    pom.write_text(
        pom.read_text().replace(f"<version>{versions.wanted()}</version>", "<version>9.9.9</version>", 1)
    )
    assert versions.disagreements(root) == [
        f"clients/java/pom.xml: 9.9.9, want {versions.wanted()} (clients/VERSION)"
    ]


def test_stamp_writes_the_new_version_everywhere_but_uv_lock(tmp_path: Path) -> None:
    root = copy_places(tmp_path)
    (root / "clients/VERSION").write_text("1.2.3\n")
    versions.stamp(root)
    problems = versions.disagreements(root)
    # uv.lock is uv's to write (`make lock`): it alone still names the old version.
    assert problems == [f"uv.lock: {versions.wanted()}, want 1.2.3 (clients/VERSION)"]
    assert '"version": "1.2.3"' in (root / "clients/typescript/package.json").read_text()
