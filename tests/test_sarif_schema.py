"""`wheelwatch check --format sarif` output is valid against the official SARIF 2.1.0 schema.

The schema is vendored in tests/data (see tests/data/README.md for where it comes from).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

from bot.cli import main

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
AS_OF = "2026-06-01"  # 3.16 is in alpha then, so `3.16-dev` is a pre-release

UNSAFE = """\
name: CI
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.14", "3.16-dev"]
    steps:
      - uses: actions/checkout@v5
      - uses: actions/setup-python@v6
        with:
          python-version: ${{ matrix.python-version }}
      - uses: actions/cache@v5
        with:
          path: ~/.cache/pip
          key: ${{ runner.os }}-pip-${{ matrix.python-version }}-${{ hashFiles('x.txt') }}
          restore-keys: |
            ${{ runner.os }}-pip-
      - run: pip install -r x.txt
"""

CLEAN = """\
name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - uses: actions/setup-python@v6
        with:
          python-version: "3.13"
          cache: pip
      - run: pip install .
"""

INVALID = "jobs:\n  test: [unclosed\n    runs-on: ubuntu-latest\n"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=FormatChecker())


def _sarif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # relative paths, as a workflow checkout would give them
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", "--format", "sarif", "--as-of", AS_OF, *files])
    return code, json.loads(out.getvalue())


def _assert_valid(validator: Draft7Validator, document: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_findings_with_fix_are_valid_sarif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validator: Draft7Validator
) -> None:
    code, document = _sarif(tmp_path, monkeypatch, {"unsafe.yml": UNSAFE})
    assert code == 1
    _assert_valid(validator, document)
    results = document["runs"][0]["results"]
    assert results, "expected at least one finding"
    assert any(result.get("fixes") for result in results), "expected a fix in the SARIF"
    for result in results:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == "unsafe.yml"


def test_clean_file_is_valid_sarif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validator: Draft7Validator
) -> None:
    code, document = _sarif(tmp_path, monkeypatch, {"clean.yml": CLEAN})
    assert code == 0
    _assert_valid(validator, document)
    assert document["runs"][0]["results"] == []


def test_invalid_yaml_is_a_valid_sarif_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validator: Draft7Validator
) -> None:
    code, document = _sarif(tmp_path, monkeypatch, {"broken.yml": INVALID})
    assert code == 2
    _assert_valid(validator, document)
    invocation = document["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"]


def test_mixed_run_is_valid_sarif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validator: Draft7Validator
) -> None:
    files = {"unsafe.yml": UNSAFE, "clean.yml": CLEAN, "broken.yml": INVALID}
    code, document = _sarif(tmp_path, monkeypatch, files)
    assert code == 2
    _assert_valid(validator, document)
    assert document["runs"][0]["results"]


def test_schema_is_not_vacuous(validator: Draft7Validator) -> None:
    # The validator must reject what the spec forbids, or the tests above prove nothing.
    assert not validator.is_valid({"version": "2.1.0"})  # runs is required
    bad_level = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "x"}},
                "results": [{"message": {"text": "m"}, "level": "fatal"}],
            }
        ],
    }
    assert not validator.is_valid(bad_level)
