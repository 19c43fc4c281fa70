"""The clients' one version, clients/VERSION, and every place that repeats it.

    python clients/release/versions.py           # check: exit 1 and name each place that differs
    python clients/release/versions.py --stamp   # write clients/VERSION into every place

Each package manager keeps its version in its own file (pyproject.toml, package.json, pom.xml,
Cargo.toml, and their locks), and the READMEs show it in their install snippets; this table is the
one list of those places, so a release changes one file and CI (`make check-client-versions`, and
tests/test_client_versions.py) fails while any place disagrees. After --stamp, `make lock` updates
uv.lock's copy (uv owns that file; the check reads it too).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION_FILE = "clients/VERSION"


@dataclass(frozen=True)
class Place:
    """One spot that repeats the version: the pattern's one group is the version."""

    path: str
    pattern: str
    uv_owned: bool = False  # stamped by `uv lock`, not by this script

    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.MULTILINE)


PLACES = (
    Place("clients/python/pyproject.toml", r'^version = "([^"]+)"$'),
    Place("uv.lock", r'^name = "llmgateway-client"\nversion = "([^"]+)"$', uv_owned=True),
    Place("clients/typescript/package.json", r'^  "version": "([^"]+)",$'),
    Place("clients/typescript/package-lock.json", r'^  "version": "([^"]+)",$'),
    Place(
        "clients/typescript/package-lock.json",
        r'^    "": \{\n      "name": "llmgateway-grpc",\n      "version": "([^"]+)",$',
    ),
    Place(
        "clients/java/pom.xml",
        r"^  <artifactId>llmgateway-client</artifactId>\n  <version>([^<]+)</version>$",
    ),
    Place("clients/java/README.md", r"^  <version>([^<]+)</version>$"),
    Place("clients/java/README.md", r'implementation\("io\.github\.llmgateway:llmgateway-client:([^"]+)"\)'),
    Place("clients/rust/Cargo.toml", r'^version = "([^"]+)"$'),
    Place("clients/rust/Cargo.lock", r'^name = "llmgateway-client"\nversion = "([^"]+)"$'),
    Place("clients/rust/README.md", r'^llmgateway-client = "([^"]+)"$'),
    Place("clients/go/version.go", r'^const Version = "([^"]+)"$'),
)


def wanted(root: Path = ROOT) -> str:
    version = (root / VERSION_FILE).read_text().strip()
    if not re.fullmatch(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?", version):
        raise SystemExit(f"{VERSION_FILE}: {version!r} is not a semantic version (X.Y.Z)")
    return version


def found(place: Place, root: Path = ROOT) -> list[str]:
    """The versions the place's pattern finds in its file (a sound file has exactly one)."""
    return place.regex().findall((root / place.path).read_text())


def disagreements(root: Path = ROOT) -> list[str]:
    """One line per place whose version is not clients/VERSION's (or that the pattern misses)."""
    version = wanted(root)
    problems = []
    for place in PLACES:
        versions = found(place, root)
        if len(versions) != 1:
            problems.append(f"{place.path}: {len(versions)} matches of {place.pattern!r}, want 1")
        elif versions[0] != version:
            problems.append(f"{place.path}: {versions[0]}, want {version} ({VERSION_FILE})")
    return problems


def stamp(root: Path = ROOT) -> None:
    version = wanted(root)
    for place in PLACES:
        if place.uv_owned:
            continue
        path = root / place.path
        text = path.read_text()

        def replace(match: re.Match[str]) -> str:
            start, end = match.span(1)
            whole = match.group(0)
            offset = match.start(0)
            return whole[: start - offset] + version + whole[end - offset :]

        path.write_text(place.regex().sub(replace, text))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stamp", action="store_true", help="write clients/VERSION into every place")
    args = parser.parse_args(argv)
    if args.stamp:
        stamp()
        print(f"stamped {wanted()} (uv.lock: `make lock`, which `make client-version` runs)")
        return 0
    problems = disagreements()
    for problem in problems:
        print(problem)
    if problems:
        print("client versions disagree: edit clients/VERSION, then `make client-version`")
        return 1
    print(f"client versions: every place says {wanted()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
