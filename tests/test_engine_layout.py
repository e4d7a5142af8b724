"""The engine's shape: its modules import one another one way only."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "bot" / "engine"


def _module(path: Path) -> str:
    parts = path.relative_to(ENGINE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _engine_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            found |= {name for name in names if name.startswith("bot.engine")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bot.engine")}
    return found


def test_engine_modules_import_each_other_one_way_only() -> None:
    modules = {_module(path): path for path in ENGINE.rglob("*.py")}
    graph = {
        name: {
            imported
            for imported in _engine_imports(path)
            # A package's own __init__ re-exporting its modules is not a cycle of logic.
            if imported in modules and imported != name and not name.startswith(imported + ".")
        }
        for name, path in modules.items()
        if not name.endswith("__main__")
    }
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:  # pragma: no cover - the failure message is the point
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
