"""Reusable workflows and composite actions are analysed with the inputs their callers pass."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from support import TODAY, analyse

from bot.cli import main
from bot.engine.actions import parse_uses
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
    assert call.path == ".github/workflows/reusable.yml"
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
    assert (call.path, call.inputs) == (".github/actions/setup", ({"python": "3.16"},))


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


# --- GitHub's self-repository syntax: ``uses: $/path`` is this repository at this commit ---

COMPOSITE = """\
name: setup
inputs:
  python-version:
    required: true
runs:
  using: composite
  steps:
    - uses: actions/setup-python@v6
      with:
        python-version: ${{ inputs.python-version }}
    - uses: actions/cache@v5
      with:
        path: ~/.cache/pip
        key: pip-${{ inputs.python-version }}
"""


def composite_caller(uses: str) -> str:
    return (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - uses: {uses}\n        with:\n          python-version: '3.16-dev'\n"
    )


def test_a_self_repository_step_is_a_call_to_that_path() -> None:
    (call,) = local_calls(composite_caller("$/.github/actions/setup"))
    assert (call.path, call.inputs) == (".github/actions/setup", ({"python-version": "3.16-dev"},))


def test_a_self_repository_job_is_a_call_to_that_reusable_workflow() -> None:
    (call,) = local_calls(CALLER.replace("./.github", "$/.github"))
    assert call.path == ".github/workflows/reusable.yml"
    assert len(call.inputs) == 2


def test_both_ways_of_naming_one_file_are_one_call() -> None:
    text = composite_caller("./.github/actions/setup") + (
        "  b:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: $/.github/actions/setup\n        with:\n          python-version: '3.15'\n"
    )
    (call,) = local_calls(text)
    assert call.path == ".github/actions/setup"
    assert call.inputs == ({"python-version": "3.16-dev"}, {"python-version": "3.15"})


def test_the_repository_root_action_is_called_with_a_bare_prefix() -> None:
    assert [call.path for call in local_calls(composite_caller("$/"))] == ["."]
    assert [call.path for call in local_calls(composite_caller("./"))] == ["."]


def test_a_self_repository_step_is_not_a_marketplace_action() -> None:
    assert parse_uses("$/.github/actions/setup") is None


@pytest.mark.parametrize("prefix", ["./", "$/"])
@pytest.mark.parametrize("action_dir", [".github/actions/setup", ""])
def test_cli_flags_a_composite_action_with_its_callers_prerelease(
    prefix: str,
    action_dir: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(composite_caller(prefix + action_dir))
    action = tmp_path / action_dir / "action.yml"
    action.parent.mkdir(parents=True, exist_ok=True)
    action.write_text(COMPOSITE)
    monkeypatch.chdir(tmp_path)

    assert main(["check", "--as-of", str(TODAY), "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["path"], f["rule"]) for f in findings] == [
        (str(Path(action_dir) / "action.yml"), "WW001")
    ]
