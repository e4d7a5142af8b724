"""A repository's settings, ``.github/wheelwatch.yml``: the engine's configuration (rules
turned off, release dates) plus what the CLI and the App do around the engine (paths not
checked, the check run's conclusion)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.engine.config import Config
from bot.engine.names import did_you_mean, rule_hint, rule_named

CONFIG_PATH = ".github/wheelwatch.yml"

_MINOR = re.compile(r"^\d+\.\d+$")


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the offending key, and ``line``
    and ``column`` (1-based) place it when the problem is in the YAML itself. The message
    names no file: only the caller knows which one it read."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line, self.column = line, column

    def located(self, path: str) -> str:
        where = f"{path}:{self.line}:{self.column}" if self.line else path
        return f"{where}: {self}"


@dataclass(frozen=True)
class RepoSettings:
    engine: Config = field(default_factory=Config)
    # fnmatch patterns of files the CLI and the App do not check.
    ignore_paths: tuple[str, ...] = ()
    # What the App's check run concludes when it has findings.
    check_conclusion: Literal["neutral", "failure"] = "neutral"
    # The App's fix pull request: on the check run's "Fix" button, or also opened (or updated)
    # on its own on install and on pushes to the default branch.
    fix_pull_request: Literal["button", "automatic"] = "button"

    def ignores_path(self, path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) for pattern in self.ignore_paths)


_KEYS = {"disable", "ignore-paths", "released", "check-conclusion", "fix-pull-request"}


def parse_settings(text: str) -> RepoSettings:
    """Read the settings; unknown keys and bad values raise ``ConfigError``."""
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is None:
            raise ConfigError(f"not valid YAML: {problem}") from None
        raise ConfigError(f"not valid YAML: {problem}", mark.line + 1, mark.column + 1) from None
    except RecursionError:
        # A 10 KB file of 5,000 brackets exhausts the parser's stack.
        raise ConfigError("nested too deeply to read") from None
    if data is None:
        return RepoSettings()
    if not isinstance(data, dict):
        raise ConfigError("must be a mapping of settings")
    unknown = sorted(str(key) for key in data if key not in _KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}{did_you_mean(unknown[0], _KEYS)}; "
            f"known keys: {', '.join(sorted(_KEYS))}"
        )
    disabled = []
    for name in _string_list(data, "disable"):
        # Rule ids and names, as in ignore comments.
        rule = rule_named(name)
        if rule is None:
            raise ConfigError(f"'disable' names an unknown rule {name!r}{rule_hint(name)}")
        disabled.append(rule.id)
    conclusion = data.get("check-conclusion", "neutral")
    if conclusion not in ("neutral", "failure"):
        raise ConfigError("'check-conclusion' must be 'neutral' or 'failure'")
    fix_pull_request = data.get("fix-pull-request", "button")
    if fix_pull_request not in ("button", "automatic"):
        raise ConfigError("'fix-pull-request' must be 'button' or 'automatic'")
    return RepoSettings(
        Config(frozenset(disabled), _released(data.get("released", {}))),
        ignore_paths=tuple(_string_list(data, "ignore-paths")),
        check_conclusion=conclusion,
        fix_pull_request=fix_pull_request,
    )


def _string_list(data: dict[object, object], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{key!r} must be a list of strings")
    return list(value)


def _released(value: object) -> dict[str, date | None]:
    if not isinstance(value, dict):
        raise ConfigError("'released' must map 'X.Y' to a release date or false")
    result: dict[str, date | None] = {}
    for minor, when in value.items():
        minor = str(minor)
        if not _MINOR.match(minor):
            raise ConfigError(f"'released' key {minor!r} is not a minor version like '3.16'")
        if when is False:
            result[minor] = None
        elif isinstance(when, date):
            result[minor] = when
        elif isinstance(when, str):
            try:
                result[minor] = date.fromisoformat(when)
            except ValueError:
                raise ConfigError(f"'released.{minor}' is not a date (YYYY-MM-DD)") from None
        else:
            raise ConfigError(f"'released.{minor}' must be a date (YYYY-MM-DD) or false")
    return result
