"""A finding without a fix says why it has none, so that a user knows what is left to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import check

from bot.cli import main

SETUP_UV_REQUESTED = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: astral-sh/setup-uv@v7
        with:
          python-version: "3.16"
          enable-cache: true
"""

SETUP_UV_V3 = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v6
        with:
          python-version: 3.16-dev
      - uses: astral-sh/setup-uv@{ref}
        with:
          enable-cache: true
"""


def test_a_rule_without_an_automatic_fix_says_what_is_left() -> None:
    (finding,) = check(SETUP_UV_REQUESTED)
    assert finding.fix is None
    assert finding.no_fix_reason == (
        "both fixes (pin the exact pre-release, or set up Python first) change which Python "
        "the job runs: a choice left to you"
    )


def test_an_action_pinned_to_a_commit_is_left_for_the_user_to_upgrade() -> None:
    (finding,) = check(SETUP_UV_V3.format(ref="a" * 40 + "  # v3.2.4"))
    assert (finding.rule_id, finding.fix) == ("WW005", None)
    assert finding.no_fix_reason.startswith("the action is pinned to a commit")


def test_a_fix_that_would_raise_another_finding_says_which() -> None:
    # setup-uv v5 keys on the Python on PATH when it runs: here, not yet the pre-release.
    (finding,) = check(
        """\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: astral-sh/setup-uv@v3
                with:
                  enable-cache: true
              - uses: actions/setup-python@v6
                with:
                  python-version: 3.16-dev
        """
    )
    assert (finding.rule_id, finding.fix) == ("WW005", None)
    assert finding.no_fix_reason == (
        "applied, the proposed fix raises WW006 (setup-uv-before-python) in this job"
    )


def test_a_fixed_finding_gives_no_reason() -> None:
    (finding,) = check(SETUP_UV_V3.format(ref="v3"))
    assert finding.fix is not None and finding.no_fix_reason == ""


def test_text_output_says_why_a_finding_has_no_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ci.yml"
    path.write_text(SETUP_UV_REQUESTED)
    assert main(["check", "--as-of", "2026-11-25", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "    no fix: both fixes (pin the exact pre-release, or set up Python first) change "
        "which Python the job runs: a choice left to you"
    )
