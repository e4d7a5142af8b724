"""The documented patterns are what the engine does: each example's unsafe snippet is
flagged by its rule, and its fixed snippet by none."""

from __future__ import annotations

import textwrap

import pytest
from support import rule_ids

from bot.engine.rules import RULES, Example, Rule

EXAMPLES = [(rule, example) for rule in RULES for example in rule.examples]


def as_workflow(snippet: str) -> str:
    """A snippet (a step list, or a job's ``env`` and ``steps``) as a one-job workflow."""
    body = snippet if snippet.startswith("env:") else "steps:\n" + textwrap.indent(snippet, "  ")
    job = "runs-on: ubuntu-latest\n" + body
    return "on: push\njobs:\n  test:\n" + textwrap.indent(job, "    ")


@pytest.mark.parametrize(("rule", "example"), EXAMPLES, ids=[e.title for _, e in EXAMPLES])
def test_documented_unsafe_snippet_is_flagged_by_its_rule(rule: Rule, example: Example) -> None:
    assert rule_ids(as_workflow(example.unsafe)) == [rule.id]


@pytest.mark.parametrize(("rule", "example"), EXAMPLES, ids=[e.title for _, e in EXAMPLES])
def test_documented_fixed_snippet_is_not_flagged(rule: Rule, example: Example) -> None:
    assert rule_ids(as_workflow(example.fixed)) == []
