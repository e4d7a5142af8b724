"""The ways wheelwatch is installed besides pip: the pre-commit hook and the GitHub Action."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.checkout import is_workflow_or_action

ROOT = Path(__file__).resolve().parents[1]
UNSAFE = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v6
        with:
          python-version: 3.16-dev
      - uses: actions/cache@v5
        with:
          path: ~/.cache/pip
          key: pip-${{ hashFiles('r.txt') }}
"""


def load(name: str) -> Any:
    return YAML(typ="safe").load((ROOT / name).read_text(encoding="utf-8"))


# --- pre-commit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "checked"),
    [
        (".github/workflows/ci.yml", True),
        (".github/workflows/release.yaml", True),
        ("action.yml", True),
        ("actions/setup/action.yaml", True),
        (".github/workflows/templates/part.yml", False),
        (".github/dependabot.yml", False),
        ("chart/templates/deployment.yaml", False),
        ("docs/action.yml.md", False),
    ],
)
def test_pre_commit_hook_runs_on_the_files_a_directory_check_would_find(
    path: str, checked: bool
) -> None:
    (hook,) = load(".pre-commit-hooks.yaml")
    assert bool(re.search(hook["files"], path)) is checked
    assert is_workflow_or_action(Path(path)) is checked


def test_pre_commit_hook_runs_the_checker_on_all_files_at_once() -> None:
    (hook,) = load(".pre-commit-hooks.yaml")
    assert (hook["id"], hook["entry"], hook["language"]) == (
        "wheelwatch",
        "wheelwatch check",
        "python",
    )
    # A called reusable workflow is judged with its callers' inputs: one run must see both.
    assert hook["require_serial"] is True


# --- the composite action ------------------------------------------------------------------


def test_action_inputs_reach_the_shell_through_env_only() -> None:
    steps = load("action.yml")["runs"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    assert scripts and not any("${{" in script for script in scripts)


def test_every_action_input_is_passed_to_the_check_step() -> None:
    action = load("action.yml")
    (check,) = [step for step in action["runs"]["steps"] if step.get("id") == "check"]
    passed = set(re.findall(r"\$\{\{ inputs\.([\w-]+) \}\}", " ".join(check["env"].values())))
    assert passed == set(action["inputs"])


@pytest.fixture
def action(tmp_path: Path) -> dict[str, Any]:
    """Runs action/check.sh as the check step does, in a checkout holding one unsafe workflow;
    the step's environment is returned for changing inputs before ``run_action``."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(UNSAFE)
    wheelwatch = tmp_path / "bin" / "wheelwatch"
    wheelwatch.parent.mkdir()
    wheelwatch.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bot "$@"\n')
    wheelwatch.chmod(0o755)
    return {
        "cwd": tmp_path,
        "env": {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "WHEELWATCH": str(wheelwatch),
            "GITHUB_OUTPUT": str(tmp_path / "github_output"),
            "INPUT_PATHS": "",
            "INPUT_FORMAT": "github",
            "INPUT_SARIF_FILE": "",
            "INPUT_AS_OF": "2026-11-25",
            "INPUT_FAIL_ON_FINDINGS": "true",
        },
    }


def run_action(action: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "action" / "check.sh")],
        cwd=action["cwd"],
        env=action["env"],
        capture_output=True,
        text=True,
        check=False,
    )


def step_outputs(action: dict[str, Any]) -> str:
    return Path(action["env"]["GITHUB_OUTPUT"]).read_text()


def test_action_annotates_findings_and_fails_the_step(action: dict[str, Any]) -> None:
    done = run_action(action)
    assert done.returncode == 1
    assert done.stdout.startswith("::warning file=.github/workflows/ci.yml,line=12,")
    assert step_outputs(action) == "exit-code=1\n"


def test_action_reports_findings_without_failing_when_asked(action: dict[str, Any]) -> None:
    action["env"]["INPUT_FAIL_ON_FINDINGS"] = "false"
    done = run_action(action)
    assert (done.returncode, step_outputs(action)) == (0, "exit-code=1\n")
    assert "::warning " in done.stdout


def test_action_fails_on_errors_even_when_findings_may_pass(action: dict[str, Any]) -> None:
    action["env"]["INPUT_FAIL_ON_FINDINGS"] = "false"
    action["env"]["INPUT_PATHS"] = "missing.yml"
    assert run_action(action).returncode == 2


def test_action_writes_sarif_beside_the_annotations(action: dict[str, Any]) -> None:
    action["env"]["INPUT_SARIF_FILE"] = "wheelwatch.sarif"
    done = run_action(action)
    assert done.returncode == 1 and "::warning " in done.stdout
    sarif = json.loads((action["cwd"] / "wheelwatch.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["WW001"]


def test_action_paths_are_separated_by_whitespace(action: dict[str, Any]) -> None:
    (action["cwd"] / "action.yml").write_text("runs:\n  using: composite\n  steps: []\n")
    action["env"]["INPUT_PATHS"] = ".github/workflows/ci.yml\naction.yml"
    action["env"]["INPUT_FORMAT"] = "json"
    report = json.loads(run_action(action).stdout)
    assert report["errors"] == [] and len(report["findings"]) == 1


def test_action_inputs_are_data_never_shell_code(action: dict[str, Any]) -> None:
    action["env"]["INPUT_PATHS"] = "$(touch pwned) `touch pwned` ;touch pwned"
    action["env"]["INPUT_AS_OF"] = "$(touch pwned)"
    done = run_action(action)
    assert done.returncode == 2
    assert not (action["cwd"] / "pwned").exists()


def test_action_rejects_a_fail_on_findings_that_is_not_a_boolean(action: dict[str, Any]) -> None:
    action["env"]["INPUT_FAIL_ON_FINDINGS"] = "yes"
    done = run_action(action)
    assert done.returncode == 2 and "fail-on-findings" in done.stdout
