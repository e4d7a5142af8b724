"""``wheelwatch check``: files in, findings out, with stable exit codes and formats."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.cli import main

UNSAFE = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.14", "3.16-dev"]
    steps:
      - uses: actions/setup-python@v6
        with:
          python-version: ${{ matrix.python-version }}
      - uses: actions/cache@v5  # pip cache
        with:
          path: ~/.cache/pip
          key: pip-${{ matrix.python-version }}-${{ hashFiles('r.txt') }}
"""
SAFE = UNSAFE.replace("3.16-dev", "3.15")
AS_OF = ["--as-of", "2026-11-25"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *AS_OF, *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with one unsafe and one safe workflow, as the current directory."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "unsafe.yml").write_text(UNSAFE)
    (workflows / "safe.yaml").write_text(SAFE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_default_paths_are_the_workflows_directory(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys)
    assert code == 1
    assert out.startswith(".github/workflows/unsafe.yml:15:16: WW001 [*]")
    assert "safe.yaml" not in out


def test_action_yml_files_are_found_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    action = tmp_path / "setup" / "action.yml"
    action.parent.mkdir()
    steps = UNSAFE.split("    steps:\n")[1].replace("${{ matrix.python-version }}", "3.16-dev")
    action.write_text("runs:\n  using: composite\n  steps:\n" + steps)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "--format", "json")
    assert code == 1
    assert [f["path"] for f in json.loads(out)["findings"]] == ["setup/action.yml"]


def test_no_findings_exits_zero(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, ".github/workflows/safe.yaml")
    assert (code, out) == (0, "All checks passed.\n")


def test_json_lists_findings_and_errors(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "broken.yml").write_text("jobs: [\n")
    code, out, _ = run(capsys, "--format", "json", ".github/workflows/unsafe.yml", "broken.yml")
    report = json.loads(out)
    assert code == 2
    (finding,) = report["findings"]
    assert {k: finding[k] for k in ("path", "line", "column", "rule", "name", "job")} == {
        "path": ".github/workflows/unsafe.yml",
        "line": 15,
        "column": 16,
        "rule": "WW001",
        "name": "prerelease-cache-key",
        "job": "test",
    }
    assert finding["end_line"] == 15 and finding["fix"]["edits"]
    assert report["errors"] == [
        {"path": "broken.yml", "message": report["errors"][0]["message"], "line": 2, "column": 1}
    ]
    assert "invalid YAML" in report["errors"][0]["message"]


def test_github_format_prints_workflow_commands(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "--format", "github", ".github/workflows/unsafe.yml")
    assert out.startswith(
        "::warning file=.github/workflows/unsafe.yml,line=15,col=16,endLine=15,endColumn="
    )
    assert ",title=WW001 prerelease-cache-key::" in out


def test_diff_prints_the_fix_and_leaves_the_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--diff", ".github/workflows/unsafe.yml")
    assert code == 1
    assert "+        id: setup-python\n" in out
    assert "+          key: pip-${{ steps.setup-python.outputs.python-version }}-" in out
    assert (repo / ".github/workflows/unsafe.yml").read_text() == UNSAFE


def test_fix_rewrites_the_file_and_then_it_passes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ".github/workflows/unsafe.yml"
    code, out, err = run(capsys, "--fix", path)
    assert (code, out) == (0, "All checks passed.\n")
    assert "Fixed 1 finding in 1 file(s)." in err
    fixed = (repo / path).read_text()
    assert "# pip cache" in fixed and "id: setup-python" in fixed
    assert run(capsys, path)[0] == 0


def test_an_unreadable_file_is_an_error_and_the_others_are_checked(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "latin1.yml").write_bytes(b"name: caf\xe9\n")
    code, out, _ = run(capsys, "latin1.yml", "missing.yml", ".github/workflows/unsafe.yml")
    assert code == 2
    assert "latin1.yml: error: file is not valid UTF-8 (byte 9)" in out
    assert "missing.yml: error: no such file or directory" in out
    assert "WW001" in out


def test_as_of_changes_the_verdict(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 3.16.0 final is expected 2027-10-05: from then on 3.16-dev is a stable build.
    assert main(["check", "--as-of", "2027-10-05", ".github/workflows/unsafe.yml"]) == 0


def test_bad_as_of_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--as-of", "yesterday"])
    assert exited.value.code == 2
    assert "not a date" in capsys.readouterr().err


def test_config_disables_rules_and_ignores_paths(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".github/wheelwatch.yml").write_text("ignore-paths: ['*/unsafe.yml']\n")
    assert run(capsys)[0] == 0
    (repo / ".github/wheelwatch.yml").write_text("disable: [WW001]\n")
    assert run(capsys)[0] == 0


def test_invalid_config_names_the_key(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".github/wheelwatch.yml").write_text("disabled: [WW001]\n")
    code, _, err = run(capsys)
    assert code == 2
    assert "unknown key 'disabled'" in err


def test_missing_explicit_config_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--config", "nope.yml")
    assert code == 2 and "configuration file not found" in err


def test_python_dash_m_bot_runs_the_cli(repo: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "bot", "check", *AS_OF, ".github/workflows/safe.yaml"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "All checks passed.\n")


# --- a run that checks nothing, and which files a directory holds -------------------------


def test_a_directory_without_workflows_is_an_error_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys)
    assert code == 2
    assert "All checks passed" not in out
    assert "no workflow or action files" in out


def test_nothing_to_check_keeps_json_parseable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "--format", "json")
    assert code == 2
    (error,) = json.loads(out)["errors"]
    assert "no workflow or action files" in error["message"]


def test_a_directory_is_searched_for_workflows_and_actions_only(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "chart" / "templates").mkdir(parents=True)
    (repo / "chart" / "templates" / "deployment.yaml").write_text("{{ .Values.x }}: [\n")
    (repo / "chart" / "action.yaml").write_text("runs:\n  using: composite\n  steps: []\n")
    code, out, _ = run(capsys, "--format", "json", ".")
    report = json.loads(out)
    assert (code, report["errors"]) == (1, [])
    assert [f["path"] for f in report["findings"]] == [".github/workflows/unsafe.yml"]


def test_a_file_named_on_the_command_line_is_checked_wherever_it_lies(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "examples").mkdir()
    (repo / "examples" / "ci.yml").write_text(UNSAFE)
    code, out, _ = run(capsys, "examples/ci.yml")
    assert code == 1
    assert out.startswith("examples/ci.yml:15:16: WW001")


def test_workflows_in_subdirectories_are_not_workflows(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GitHub runs only the files directly in .github/workflows.
    (repo / ".github/workflows/templates").mkdir()
    (repo / ".github/workflows/templates/part.yml").write_text("{{ x }}: [\n")
    assert run(capsys)[0] == 1


# --- machine formats stay machine-readable -----------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_diff_with_a_machine_format_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, out, err = run(capsys, "--format", fmt, "--diff")
    assert (code, out) == (2, "")
    assert "--diff" in err and fmt in err


# --- sub-commands ---------------------------------------------------------------------------


def test_a_mistyped_command_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serv"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert all(command in err for command in ("'check'", "'serve'", "'replay'"))


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in ("check", "serve", "replay"))


# --- configuration --------------------------------------------------------------------------


def test_a_config_error_names_the_file_that_was_read(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "c2.yml").write_text("disable: [WW001]\nbogus: 1\n")
    code, _, err = run(capsys, "--config", "c2.yml")
    assert code == 2
    assert err.startswith("wheelwatch: error: c2.yml: unknown key 'bogus'")
    assert "wheelwatch.yml" not in err


def test_a_mistyped_config_key_suggests_the_nearest(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".github/wheelwatch.yml").write_text("disabel: [WW001]\n")
    _, _, err = run(capsys)
    assert "unknown key 'disabel' (did you mean 'disable'?" in err


def test_invalid_config_yaml_is_shown_with_the_file_and_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "c2.yml").write_text("disable: [WW001]\nreleased: {3.16: [\n")
    code, _, err = run(capsys, "--config", "c2.yml")
    assert code == 2
    assert err.startswith("wheelwatch: error: c2.yml:3:1: not valid YAML")
    assert "<unicode string>" not in err


def test_config_disables_a_rule_by_its_name(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".github/wheelwatch.yml").write_text("disable: [prerelease-cache-key]\n")
    assert run(capsys)[0] == 0


def test_config_is_found_at_the_repository_root_from_a_subdirectory(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".git").mkdir()
    (repo / ".github/wheelwatch.yml").write_text("disable: [WW001]\n")
    monkeypatch.chdir(repo / ".github" / "workflows")
    assert run(capsys, "unsafe.yml")[0] == 0


def test_ignore_paths_apply_to_absolute_paths(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".github/wheelwatch.yml").write_text("ignore-paths: [.github/workflows/unsafe.yml]\n")
    assert run(capsys, str(repo / ".github/workflows/unsafe.yml"))[0] == 0


def test_an_unknown_rule_in_an_ignore_comment_is_reported(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / ".github/workflows/unsafe.yml"
    path.write_text(UNSAFE.replace("# pip cache", "# wheelwatch: ignore[WW01]"))
    code, out, _ = run(capsys, ".github/workflows/unsafe.yml")
    assert code == 1
    assert (
        ".github/workflows/unsafe.yml:12:33: warning: unknown rule 'WW01' in an ignore comment "
        "(did you mean 'WW001'?)"
    ) in out


# --- SARIF for code scanning ------------------------------------------------------------------


def sarif_locations(out: str) -> list[dict[str, object]]:
    (run_,) = json.loads(out)["runs"]
    return [
        location["physicalLocation"]["artifactLocation"]
        for result in run_["results"]
        for location in result["locations"]
    ]


def test_sarif_uris_are_relative_to_the_repository_root(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "--format", "sarif", ".github/workflows/unsafe.yml")
    assert sarif_locations(out) == [
        {"uri": ".github/workflows/unsafe.yml", "uriBaseId": "%SRCROOT%"}
    ]
    assert json.loads(out)["runs"][0]["originalUriBaseIds"] == {
        "%SRCROOT%": {"uri": repo.resolve().as_uri() + "/"}
    }


def test_sarif_uris_of_absolute_paths_are_relative_to_the_repository_root(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "--format", "sarif", str(repo / ".github/workflows/unsafe.yml"))
    assert sarif_locations(out) == [
        {"uri": ".github/workflows/unsafe.yml", "uriBaseId": "%SRCROOT%"}
    ]


def test_sarif_uris_from_a_subdirectory_are_relative_to_the_repository_root(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".git").mkdir()
    monkeypatch.chdir(repo / ".github")
    _, out, _ = run(capsys, "--format", "sarif", "workflows/unsafe.yml")
    assert sarif_locations(out) == [
        {"uri": ".github/workflows/unsafe.yml", "uriBaseId": "%SRCROOT%"}
    ]


def test_sarif_uris_are_percent_encoded(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".github/workflows/unsafe.yml").rename(repo / ".github/workflows/my ci#1.yml")
    _, out, _ = run(capsys, "--format", "sarif")
    assert sarif_locations(out)[0]["uri"] == ".github/workflows/my%20ci%231.yml"


# --- wheelwatch rule, help and colour ---------------------------------------------------------


def test_rule_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.engine import RULES

    assert main(["rule"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines()] == [[r.id, r.name] for r in RULES]


@pytest.mark.parametrize("name", ["WW002", "ww002", "prerelease-restore-key"])
def test_rule_prints_one_rules_documentation(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.engine import RULES_BY_ID

    rule = RULES_BY_ID["WW002"]
    assert main(["rule", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WW002 prerelease-restore-key\n")
    assert " ".join(rule.explanation.split()) in " ".join(out.split())
    (example,) = rule.examples
    assert example.unsafe in out and example.fixed in out


def test_rule_unknown_is_an_error_that_suggests_the_nearest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rule", "WW01"]) == 2
    assert "unknown rule 'WW01' (did you mean 'WW001'?)" in capsys.readouterr().err


def test_format_option_is_explained_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--format {github,json,sarif,text} output format:" in help_text


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard output is a terminal, and neither NO_COLOR nor FORCE_COLOR is set."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setattr("bot.cli._stdout_is_terminal", lambda: True)


def test_text_output_is_coloured_on_a_terminal(
    repo: Path, terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, ".github/workflows/unsafe.yml")
    assert "\x1b[" in out
    assert "\x1b[1m.github/workflows/unsafe.yml\x1b[0m:15:16: \x1b[1;31mWW001\x1b[0m" in out


def test_text_output_is_plain_when_piped(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setattr("bot.cli._stdout_is_terminal", lambda: False)
    assert "\x1b[" not in run(capsys, ".github/workflows/unsafe.yml")[1]


def test_no_color_turns_colour_off_on_a_terminal(
    repo: Path, terminal: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run(capsys, ".github/workflows/unsafe.yml")[1]


def test_force_color_colours_piped_output(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setattr("bot.cli._stdout_is_terminal", lambda: False)
    assert "\x1b[" in run(capsys, ".github/workflows/unsafe.yml")[1]


def test_machine_formats_are_never_coloured(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" not in run(capsys, "--format", "json")[1]


def test_fix_keeps_a_crlf_file_crlf(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / ".github/workflows/unsafe.yml"
    path.write_bytes(UNSAFE.replace("\n", "\r\n").encode())
    code, _, _ = run(capsys, "--fix", ".github/workflows/unsafe.yml")
    fixed = path.read_bytes()
    assert code == 0 and b"id: setup-python\r\n" in fixed
    assert fixed.count(b"\n") == fixed.count(b"\r\n")
