"""The engine's shape: its modules import one another one way only, and it is pure: it
reads no clock, and importing it reads no file."""

from __future__ import annotations

import ast
import subprocess
import sys
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


def test_importing_the_engine_reads_no_file() -> None:
    # In a fresh interpreter, with every open() recorded: the import system itself reads
    # modules through io.open_code, so only the engine's own reads would show.
    script = (
        "import builtins, io, sys\n"
        "opened = []\n"
        "real = builtins.open\n"
        "def spy(file, *args, **kwargs):\n"
        "    opened.append(str(file))\n"
        "    return real(file, *args, **kwargs)\n"
        "builtins.open = io.open = spy\n"
        "import bot.engine\n"
        "print(repr(opened))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_engine_reads_no_clock() -> None:
    clocks = {"today", "now", "utcnow", "time", "monotonic", "perf_counter"}
    for path in ENGINE.rglob("*.py"):
        calls = [
            node.func.attr
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        ]
        assert not clocks.intersection(calls), path


def test_the_engine_config_holds_only_what_its_verdicts_depend_on() -> None:
    # Paths to skip and the App's check-run conclusion are the repository's settings
    # (bot.settings), not the engine's.
    from dataclasses import fields

    from bot.engine import Config

    assert {f.name for f in fields(Config)} == {"disabled_rules", "released"}
