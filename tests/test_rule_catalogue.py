"""The rule catalogue: one module per rule, registered once; the rules page and the README's
table are generated from it; every documented snippet is what the engine does."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support import rule_ids

from bot.engine import RULES
from bot.engine.rules import Example, Rule
from bot.engine.rules.docs import rules_page, with_rules_table

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [(rule, example) for rule in RULES for example in rule.examples]


def test_rule_catalogue_has_stable_ids_and_names() -> None:
    assert [(rule.id, rule.name) for rule in RULES] == [
        ("WW001", "prerelease-cache-key"),
        ("WW002", "prerelease-restore-key"),
        ("WW003", "setup-python-unversioned-cache"),
        ("WW004", "setup-uv-requested-version-key"),
        ("WW005", "setup-uv-unversioned-cache"),
        ("WW006", "setup-uv-before-python"),
    ]


def test_each_rule_lives_in_a_module_named_for_it() -> None:
    for rule in RULES:
        assert type(rule).__module__ == f"bot.engine.rules.{rule.name.replace('-', '_')}"


def test_rules_page_is_generated_from_the_catalogue() -> None:
    # Stale? Run: python -m bot.engine.rules --write-docs
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == rules_page(RULES)


def test_readme_rule_table_is_generated_from_the_catalogue() -> None:
    # Stale? Run: python -m bot.engine.rules --write-docs
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == with_rules_table(readme, RULES)


def test_every_rule_documents_at_least_one_unsafe_and_fixed_snippet() -> None:
    assert all(rule.examples and rule.explanation for rule in RULES)


def as_workflow(snippet: str) -> str:
    """A snippet (a step list, or a job's ``env``/``strategy`` and ``steps``) as a workflow."""
    is_job = snippet.startswith(("env:", "strategy:"))
    body = snippet if is_job else "steps:\n" + textwrap.indent(snippet, "  ")
    job = "runs-on: ubuntu-latest\n" + body
    return "on: push\njobs:\n  test:\n" + textwrap.indent(job, "    ")


@pytest.mark.parametrize(("rule", "example"), EXAMPLES, ids=[e.title for _, e in EXAMPLES])
def test_documented_unsafe_snippet_is_flagged_by_its_rule(rule: Rule, example: Example) -> None:
    assert rule_ids(as_workflow(example.unsafe)) == [rule.id]


@pytest.mark.parametrize(("rule", "example"), EXAMPLES, ids=[e.title for _, e in EXAMPLES])
def test_documented_fixed_snippet_is_not_flagged(rule: Rule, example: Example) -> None:
    assert rule_ids(as_workflow(example.fixed)) == []
