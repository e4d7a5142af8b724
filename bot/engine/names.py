"""Rules by id or name, and the nearest known word to a typo, for messages about names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from bot.engine.rules import RULES, Rule


def rule_named(text: str) -> Rule | None:
    """The rule whose id or name is ``text``, in any case, as ignore comments match them."""
    wanted = text.strip().lower()
    return next((rule for rule in RULES if wanted in (rule.id.lower(), rule.name.lower())), None)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'disable'?)`` for the nearest choice, or nothing if none is near."""
    by_folded = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.strip().lower(), list(by_folded), n=1)
    return f" (did you mean {by_folded[close[0]]!r}?)" if close else ""


def rule_hint(word: str) -> str:
    """`` (did you mean 'WW001'?)`` for a rule id or name that names no rule."""
    return did_you_mean(word, [rule.id for rule in RULES] + [rule.name for rule in RULES])
