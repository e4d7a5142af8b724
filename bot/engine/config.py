"""What the engine's verdicts depend on besides the text: rules turned off and release
dates overridden. The repository's settings file holds these and more (``bot.settings``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Config:
    disabled_rules: frozenset[str] = frozenset()
    # Minor version -> date of its final release, overriding the release table.
    # ``None`` marks a minor as not released, whatever the table says.
    released: dict[str, date | None] = field(default_factory=dict)
