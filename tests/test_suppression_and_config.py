"""``# wheelwatch: ignore[...]`` comments and ``.github/wheelwatch.yml``."""

from __future__ import annotations

from datetime import date

import pytest
from support import analyse, check, rule_ids

from bot.engine import Config
from bot.settings import ConfigError, RepoSettings, parse_settings

WORKFLOW = (
    "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - uses: actions/setup-python@v6\n"
    "        with:\n"
    "          python-version: 3.16-dev\n"
    "      - uses: actions/cache@v5{step_comment}\n"
    "        with:\n"
    "          path: ~/.cache/pip\n"
    "          key: pip-x{key_comment}\n"
)


def workflow(step_comment: str = "", key_comment: str = "") -> str:
    return WORKFLOW.format(step_comment=step_comment, key_comment=key_comment)


def test_ignore_comment_suppresses_the_rule() -> None:
    assert rule_ids(workflow(key_comment="  # wheelwatch: ignore[WW001]")) == []


def test_ignore_comment_anywhere_in_the_step_suppresses_the_rule() -> None:
    assert rule_ids(workflow(step_comment="  # wheelwatch: ignore[WW001]")) == []


def test_ignore_comment_by_rule_name_suppresses_the_rule() -> None:
    assert rule_ids(workflow(key_comment="  # wheelwatch: ignore[prerelease-cache-key]")) == []


def test_bare_ignore_comment_suppresses_every_rule() -> None:
    assert rule_ids(workflow(key_comment="  # wheelwatch: ignore")) == []


def test_ignore_comment_for_another_rule_does_not_suppress() -> None:
    assert rule_ids(workflow(key_comment="  # wheelwatch: ignore[WW002]")) == ["WW001"]


def test_ignore_comment_on_another_step_does_not_suppress() -> None:
    text = workflow().replace(
        "actions/setup-python@v6\n", "actions/setup-python@v6  # wheelwatch: ignore[WW001]\n"
    )
    assert rule_ids(text) == ["WW001"]


def test_ignore_comment_list_names_several_rules() -> None:
    assert rule_ids(workflow(key_comment="  # wheelwatch: ignore[WW002, WW001]")) == []


def test_disabled_rule_is_not_reported() -> None:
    config = Config(disabled_rules=frozenset({"WW001"}))
    assert rule_ids(workflow(), config=config) == []


def test_released_override_makes_a_minor_final() -> None:
    config = parse_settings("released:\n  '3.16': 2026-11-01\n").engine
    assert rule_ids(workflow(), config=config) == []


def test_released_false_makes_a_final_minor_a_prerelease_again() -> None:
    text = workflow().replace("3.16-dev", "3.15-dev")
    assert rule_ids(text) == []
    assert rule_ids(text, config=parse_settings("released:\n  '3.15': false\n").engine) == ["WW001"]


# --- parsing the configuration ------------------------------------------------------------


def test_config_parses_every_setting() -> None:
    config = parse_settings(
        "disable: [WW005]\n"
        "ignore-paths: ['.github/workflows/nightly-*.yml']\n"
        "released:\n  '3.16': 2027-10-05\n  '3.17': false\n"
        "check-conclusion: failure\n"
        "fix-pull-request: automatic\n"
    )
    assert config == RepoSettings(
        Config(
            disabled_rules=frozenset({"WW005"}),
            released={"3.16": date(2027, 10, 5), "3.17": None},
        ),
        ignore_paths=(".github/workflows/nightly-*.yml",),
        check_conclusion="failure",
        fix_pull_request="automatic",
    )
    assert config.ignores_path(".github/workflows/nightly-3.16.yml")
    assert not config.ignores_path(".github/workflows/ci.yml")


def test_empty_config_is_the_default() -> None:
    assert parse_settings("") == RepoSettings()
    assert parse_settings("# nothing\n") == RepoSettings()


def test_config_unknown_key_names_the_key() -> None:
    with pytest.raises(ConfigError, match="unknown key 'disabled'"):
        parse_settings("disabled: [WW001]\n")


def test_config_unknown_rule_is_an_error_that_suggests_the_nearest() -> None:
    with pytest.raises(ConfigError, match=r"unknown rule 'WW01' \(did you mean 'WW001'\?\)"):
        parse_settings("disable: [WW01]\n")


def test_config_disables_rules_by_name_as_ignore_comments_do() -> None:
    config = parse_settings("disable: [prerelease-cache-key, Setup-UV-Before-Python]\n")
    assert config.engine.disabled_rules == {"WW001", "WW006"}


def test_config_yaml_error_is_placed_by_line_and_column() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings("disable: [WW001]\nreleased: {3.16: [\n")
    assert (raised.value.line, raised.value.column) == (3, 1)
    assert raised.value.located("c.yml").startswith("c.yml:3:1: not valid YAML: ")


def test_unknown_rule_in_an_ignore_comment_is_a_warning_and_suppresses_nothing() -> None:
    analysis = analyse(workflow(key_comment="  # wheelwatch: ignore[WW01, prerelease-cache-ky]"))
    assert [f.rule_id for f in analysis.findings] == ["WW001"]
    assert [(w.message, w.line, w.column) for w in analysis.warnings] == [
        ("unknown rule 'WW01' in an ignore comment (did you mean 'WW001'?)", 12, 23),
        (
            "unknown rule 'prerelease-cache-ky' in an ignore comment "
            "(did you mean 'prerelease-cache-key'?)",
            12,
            23,
        ),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "must be a mapping"),
        ("disable: WW001\n", "'disable' must be a list of strings"),
        ("ignore-paths: [1]\n", "'ignore-paths' must be a list of strings"),
        ("released: [3.16]\n", "'released' must map"),
        ("released:\n  '3': 2027-10-05\n", "not a minor version"),
        ("released:\n  '3.16': soon\n", "'released.3.16' is not a date"),
        ("released:\n  '3.16': 3\n", "'released.3.16' must be a date"),
        ("check-conclusion: maybe\n", "'check-conclusion'"),
        ("fix-pull-request: always\n", "'fix-pull-request' must be 'button' or 'automatic'"),
        ("disable: [\n", "not valid YAML"),
    ],
)
def test_config_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(text)


def test_ignore_comment_after_a_unicode_line_separator_still_matches_its_line() -> None:
    workflow = (
        "on: push\n# a\u2028\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n        with:\n"
        '          python-version: "3.16-dev"\n'
        "      - uses: actions/cache@v5\n        with:\n          path: ~/.cache/pip\n"
        "          key: pip  # wheelwatch: ignore[WW001]\n"
    )
    assert rule_ids(workflow) == []


def test_finding_line_counts_a_unicode_line_separator_as_the_parser_does() -> None:
    workflow = (
        "on: push\n# a\u2028\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n        with:\n"
        '          python-version: "3.16-dev"\n'
        "      - uses: actions/cache@v5\n        with:\n          path: ~/.cache/pip\n"
        "          key: pip\n"
    )
    (finding,) = check(workflow)
    assert (finding.span.line, finding.span.column) == (14, 16)


def test_config_nested_thousands_deep_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nested"):
        parse_settings("disable: " + "[" * 5000 + "]" * 5000 + "\n")
