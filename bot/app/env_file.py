"""The ``.env`` file that ``wheelwatch register`` writes and ``serve`` and ``worker`` read.

One ``NAME=value`` per line, ``#`` comments; a value may be wrapped in double or single
quotes (compose.yaml's ``env_file`` reads the same file). The private key is kept on one
line with ``\\n`` escapes, which the configuration unescapes.
Variables already in the environment win over the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path


def _name(line: str) -> str | None:
    """The variable a line sets; None for a comment or a blank line."""
    line = line.strip()
    if not line or line.startswith("#") or "=" not in line:
        return None
    return line.partition("=")[0].strip().removeprefix("export ").strip()


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name = _name(line)
        if name is None:
            continue
        value = line.partition("=")[2].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


def environment_with(path: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` over the file's values (the file is optional)."""
    if not path.is_file():
        return dict(env)
    return {**read_env_file(path), **env}


def write_env_file(path: Path, values: Mapping[str, str], *, drop: Iterable[str] = ()) -> None:
    """Sets ``values`` in the file, readable by its owner only (it holds the App's secrets).

    The file's other lines stay as they were: a deployment's own settings, its comments.
    The lines that set one of ``values`` or a name in ``drop`` go."""
    gone = {*values, *drop}
    # Read and written back byte for byte, whatever they hold: GitHub's code that produced
    # ``values`` is spent, so this write must not fail on the file's other lines.
    kept = (
        path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
        if path.is_file()
        else []
    )
    lines = [line for line in kept if _name(line) not in gone]
    lines += [f"{name}={value}" for name, value in values.items()]
    text = "".join(f"{line}\n" for line in lines)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", errors="surrogateescape") as file:
        file.write(text)
    os.chmod(path, 0o600)
