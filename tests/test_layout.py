"""The server package's modules import each other without cycles (imports inside functions
included, which is how the cli <-> workers cycle used to hide)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "server" / "llmgateway"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("llmgateway", *parts))


def _imports() -> dict[str, set[str]]:
    """Each server module and the server modules it imports (`from llmgateway.x import ...`)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module in modules and node.module != name
        }
    return graph


def test_server_modules_import_each_other_without_cycles() -> None:
    graph = _imports()
    assert "llmgateway.workers" in graph["llmgateway.cli"], "the walk sees the package's imports"
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        raise AssertionError(f"an import cycle: {' -> '.join(cycle.args[1])}") from None
