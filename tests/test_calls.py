"""Reusable workflows and composite actions are analysed with the inputs their callers pass."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from support import TODAY, analyse

from bot.cli import main
from bot.engine.calls import local_calls

CALLER = """\
on: push
jobs:
  test:
    strategy:
      matrix:
        python: ["3.14", "3.16-dev"]
    uses: ./.github/workflows/reusable.yml
    with:
      python-version: ${{ matrix.python }}
      extra: fixed
"""

REUSABLE = """\
on:
  workflow_call:
    inputs:
      python-version:
        type: string
        required: true
      cache-prefix:
        type: string
        default: pip
jobs:
  run:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v6
        with:
          python-version: ${{ inputs.python-version }}
      - uses: actions/cache@v5
        with:
          path: ~/.cache/pip
          key: ${{ inputs.cache-prefix }}-${{ inputs.python-version }}
"""


def test_a_caller_passes_its_matrix_values_as_inputs() -> None:
    (call,) = local_calls(CALLER)
    assert call.target == "./.github/workflows/reusable.yml"
    assert call.inputs == (
        {"python-version": "3.14", "extra": "fixed"},
        {"python-version": "3.16-dev", "extra": "fixed"},
    )


def test_step_level_local_actions_are_calls_too() -> None:
    caller = (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: ./.github/actions/setup\n        with:\n          python: '3.16'\n"
        "      - uses: actions/checkout@v5\n"
    )
    (call,) = local_calls(caller)
    assert (call.target, call.inputs) == ("./.github/actions/setup", ({"python": "3.16"},))


def test_called_file_with_unknown_inputs_is_not_flagged() -> None:
    assert analyse(REUSABLE, as_of=TODAY).findings == ()


def test_called_file_is_flagged_with_a_callers_prerelease() -> None:
    inputs = [{"python-version": "3.14"}, {"python-version": "3.16-dev"}]
    (finding,) = analyse(REUSABLE, as_of=TODAY, inputs=inputs).findings
    assert finding.rule_id == "WW001"
    assert finding.pythons[0].startswith("3.16-dev")


def test_declared_defaults_fill_what_callers_leave_out() -> None:
    text = REUSABLE.replace("        required: true\n", '        default: "3.16-dev"\n')
    assert analyse(text, as_of=TODAY).findings == ()  # no caller known: inputs unknown
    (finding,) = analyse(text, as_of=TODAY, inputs=[{"extra": "x"}]).findings
    assert finding.rule_id == "WW001"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(CALLER)
    (workflows / "reusable.yml").write_text(REUSABLE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_reports_the_called_workflow_with_its_callers_inputs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--as-of", str(TODAY), "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["path"], f["rule"]) for f in findings] == [
        (".github/workflows/reusable.yml", "WW001")
    ]


def test_cli_checks_a_called_file_alone_as_unknown(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--as-of", str(TODAY), ".github/workflows/reusable.yml"]) == 0


def test_cli_fixes_the_called_workflow(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--as-of", str(TODAY), "--fix"]) == 0
    fixed = (repo / ".github/workflows/reusable.yml").read_text()
    assert "${{ steps.setup-python.outputs.python-version }}" in fixed
    assert textwrap.dedent(CALLER) == (repo / ".github/workflows/ci.yml").read_text()
