"""The rule registry: one module per rule, one line each here.

A rule is a ``Rule`` subclass in its own module (``bot.engine.rules.<name>``) that owns its
id, name, documentation (its docstring), the steps it wants, its check, its messages and its
fix proposal. ``docs/rules.md`` and the README's rule table are generated from this list
(``python -m bot.engine.rules --write-docs``); a test fails when either is stale.
"""

from __future__ import annotations

from bot.engine.rules.base import Example, Rule
from bot.engine.rules.prerelease_cache_key import PrereleaseCacheKey
from bot.engine.rules.prerelease_restore_key import PrereleaseRestoreKey
from bot.engine.rules.setup_python_unversioned_cache import SetupPythonUnversionedCache
from bot.engine.rules.setup_uv_before_python import SetupUvBeforePython
from bot.engine.rules.setup_uv_requested_version_key import SetupUvRequestedVersionKey
from bot.engine.rules.setup_uv_unversioned_cache import SetupUvUnversionedCache

# The order is the catalogue's (documentation, SARIF) and the order rules check a step in.
RULES: tuple[Rule, ...] = (
    PrereleaseCacheKey(),
    PrereleaseRestoreKey(),
    SetupPythonUnversionedCache(),
    SetupUvRequestedVersionKey(),
    SetupUvUnversionedCache(),
    SetupUvBeforePython(),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}

__all__ = ["RULES", "RULES_BY_ID", "Example", "Rule"]
