"""The ``.env`` file that ``wheelwatch register`` writes and ``serve`` and ``worker`` read.

One ``NAME=value`` per line, ``#`` comments; a value may be wrapped in double quotes. The
private key is kept on one line with ``\\n`` escapes, which the configuration unescapes.
Variables already in the environment win over the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        values[name.strip().removeprefix("export ").strip()] = value
    return values


def environment_with(path: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` over the file's values (the file is optional)."""
    if not path.is_file():
        return dict(env)
    return {**read_env_file(path), **env}


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Writes (replacing) the file, readable by its owner only: it holds the App's secrets."""
    text = "".join(f"{name}={value}\n" for name, value in values.items())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, 0o600)
