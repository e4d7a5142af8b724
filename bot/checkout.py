"""Which files of a checkout are workflows or action files, and where the checkout's root is."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

ACTION_FILE_NAMES = ("action.yml", "action.yaml")
NOTHING_FOUND = (
    "no workflow or action files found (looked for .github/workflows/*.yml|yaml and "
    "action.yml|yaml); run in the repository, or name the files"
)
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", ".tox", ".nox", "__pycache__"}


def is_workflow_or_action(path: Path) -> bool:
    """GitHub runs the YAML files directly in ``.github/workflows`` (not in subdirectories)
    and reads composite actions from ``action.yml``; any other YAML (a Helm chart, a
    compose file) is not for us."""
    if path.name in ACTION_FILE_NAMES:
        return True
    absolute = Path(os.path.abspath(path))
    return (
        absolute.suffix in (".yml", ".yaml")
        and absolute.parent.name == "workflows"
        and absolute.parent.parent.name == ".github"
    )


def files_in(directory: Path) -> list[Path]:
    found: list[Path] = []
    for parent, subdirs, files in os.walk(directory):
        subdirs[:] = [d for d in subdirs if d not in _SKIP_DIRS]
        found.extend(
            Path(parent) / name for name in files if is_workflow_or_action(Path(parent) / name)
        )
    return sorted(found)


def discover(paths: Sequence[str]) -> Iterator[tuple[str, str | None]]:
    """Yield (path as given or found, why it cannot be checked) for each file to check:
    directories (the current one by default) are searched, named files are taken as given."""
    for given in paths or ["."]:
        path = Path(given)
        if path.is_dir():
            found = files_in(path)
            if not found:
                yield given, NOTHING_FOUND
            for file in found:
                yield str(file), None
        elif path.exists():
            yield given, None
        else:
            yield given, "no such file or directory"


def repository_root(start: Path) -> Path:
    """The nearest directory from ``start`` up that holds ``.git``, else ``start``: where the
    configuration lives and what ``ignore-paths`` and SARIF paths are relative to."""
    start = Path(os.path.abspath(start))
    return next((d for d in (start, *start.parents) if (d / ".git").exists()), start)


def relative_to_root(path: str, root: Path) -> str | None:
    """``path`` relative to the repository root, in POSIX form, or None if outside it."""
    absolute = Path(os.path.abspath(path))
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else None
