"""What kinds of file the engine reads: workflows, composite actions, odd YAML, bad input."""

from __future__ import annotations

import textwrap

import pytest
from support import TODAY, analyse, check, rule_ids

from bot.engine.document import MAX_BYTES

CACHE_STEPS = """\
      - uses: actions/setup-python@v6
        with:
          python-version: 3.16-dev
      - uses: actions/cache@v5
        with:
          path: ~/.cache/pip
          key: pip-${{ hashFiles('r.txt') }}
"""


def test_composite_action_is_analysed() -> None:
    text = "name: setup\nruns:\n  using: composite\n  steps:\n" + textwrap.indent(CACHE_STEPS, "  ")
    (finding,) = check(text)
    assert (finding.rule_id, finding.job) == ("WW001", "(composite)")


def test_reusable_workflow_caller_is_skipped() -> None:
    text = (
        textwrap.dedent(
            """\
        on: push
        jobs:
          call:
            uses: ./.github/workflows/tests.yml
            with:
              python-version: 3.16-dev
          test:
            runs-on: ubuntu-latest
            steps:
        """
        )
        + CACHE_STEPS
    )
    assert [(f.rule_id, f.job) for f in check(text)] == [("WW001", "test")]


def test_docker_and_local_actions_are_ignored() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: docker://python:3.16-rc\n"
        "      - uses: ./.github/actions/setup\n" + CACHE_STEPS
    )
    assert rule_ids(text) == ["WW001"]


@pytest.mark.parametrize("text", ["", "# just a comment\n", "on: push\n"])
def test_files_without_jobs_have_no_findings_and_no_error(text: str) -> None:
    assert analyse(text, as_of=TODAY).findings == ()
    assert analyse(text, as_of=TODAY).error is None


def test_duplicate_keys_use_the_last_value() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n"
        "        with:\n"
        "          python-version: 3.16-dev\n"
        "          python-version: '3.14'\n"
        "      - uses: actions/cache@v5\n"
        "        with:\n          path: ~/.cache/pip\n          key: pip-x\n"
    )
    analysis = analyse(text, as_of=TODAY)
    # ruamel's safe composer accepts duplicate keys at the node level; the last one wins.
    if analysis.error is not None:
        assert analysis.error.line is not None
    else:
        assert analysis.findings == ()


def test_merge_keys_bring_in_the_setup_inputs() -> None:
    text = textwrap.dedent(
        """\
        on: push
        x-python: &python
          python-version: 3.16-dev
          allow-prereleases: true
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/setup-python@v6
                with:
                  <<: *python
              - uses: actions/cache@v5
                with:
                  path: ~/.cache/pip
                  key: pip-x
        """
    )
    assert rule_ids(text) == ["WW001"]


def test_merge_key_values_are_overridden_by_explicit_keys() -> None:
    text = textwrap.dedent(
        """\
        on: push
        x-python: &python
          python-version: 3.16-dev
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/setup-python@v6
                with:
                  <<: *python
                  python-version: '3.14'
              - uses: actions/cache@v5
                with:
                  path: ~/.cache/pip
                  key: pip-x
        """
    )
    assert rule_ids(text) == []


def test_aliased_step_is_analysed_where_it_is_used() -> None:
    text = textwrap.dedent(
        """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - &setup
                uses: actions/setup-python@v6
                with:
                  python-version: '3.14'
          b:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/setup-python@v6
                with:
                  python-version: 3.16-dev
              - &cache
                uses: actions/cache@v5
                with:
                  path: ~/.cache/pip
                  key: pip-x
          c:
            runs-on: ubuntu-latest
            steps:
              - *setup
              - *cache
        """
    )
    assert [f.job for f in check(text)] == ["b"]


# --- unusable input is an Analysis.error, never an exception -----------------------------


def test_invalid_yaml_gives_an_error_with_a_line() -> None:
    analysis = analyse("on: push\njobs:\n  test: [\n", as_of=TODAY)
    assert analysis.findings == ()
    assert analysis.error is not None
    assert analysis.error.line is not None
    assert "invalid YAML" in analysis.error.message


def test_tab_indentation_gives_an_error_with_a_line() -> None:
    analysis = analyse("on: push\njobs:\n\ttest:\n", as_of=TODAY)
    assert analysis.error is not None
    assert analysis.error.line == 3


def test_multi_document_file_gives_an_error() -> None:
    analysis = analyse("on: push\n---\njobs: {}\n", as_of=TODAY)
    assert analysis.error is not None
    assert analysis.error.line == 2


def test_alias_bomb_gives_an_error_quickly() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 12):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    lines.append("jobs:\n  test:\n    runs-on: *a11\n")
    analysis = analyse("\n".join(lines), as_of=TODAY)
    assert analysis.error is not None
    assert "alias bomb" in analysis.error.message
    assert analysis.error.line is not None


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n", "# c\n- a\n"])
def test_non_mapping_document_gives_an_error_where_it_starts(text: str) -> None:
    analysis = analyse(text, as_of=TODAY)
    assert analysis.error is not None
    assert "not a mapping" in analysis.error.message
    assert analysis.error.line == text.count("#") + 1


@pytest.mark.parametrize("jobs", ["[a, b]", "", "3"])
def test_jobs_that_are_not_a_mapping_give_an_error_at_the_jobs_key(jobs: str) -> None:
    analysis = analyse(f"on: push\njobs: {jobs}\n", as_of=TODAY)
    assert analysis.error is not None
    assert "jobs" in analysis.error.message
    assert analysis.error.line == 2


def test_file_over_one_mib_gives_an_error() -> None:
    text = "on: push\n" + "# padding\n" * (MAX_BYTES // 10 + 1)
    analysis = analyse(text, as_of=TODAY)
    assert analysis.error is not None
    assert "larger than 1024 KiB" in analysis.error.message


def test_file_of_exactly_one_mib_is_analysed() -> None:
    text = "on: push\n"
    text += "#" * (MAX_BYTES - len(text) - 1) + "\n"
    assert len(text.encode()) == MAX_BYTES
    assert analyse(text, as_of=TODAY).error is None


def test_non_string_mapping_keys_give_an_error_or_are_ignored() -> None:
    analysis = analyse("on: push\njobs:\n  ? [a, b]\n  : {}\n", as_of=TODAY)
    assert analysis.error is not None
    assert analysis.error.line == 3


def test_deep_nesting_gives_an_error_not_a_recursion_error() -> None:
    text = "jobs: " + "[" * 5000 + "]" * 5000 + "\n"
    analysis = analyse(text, as_of=TODAY)
    assert analysis.error is not None


@pytest.mark.parametrize(
    "text",
    [
        "jobs:\n  test: 3\n",
        "jobs:\n  test:\n    steps: 3\n",
        "jobs:\n  test:\n    steps: [3, null, [1]]\n",
        "jobs:\n  test:\n    strategy: 3\n    steps: []\n",
        "jobs:\n  test:\n    strategy:\n      matrix: [1]\n",
        "jobs:\n  test:\n    strategy:\n      matrix:\n        include: 3\n",
        "jobs:\n  test:\n    steps:\n      - uses: 3\n        with: [1]\n",
        "jobs:\n  test:\n    steps:\n      - uses: actions/cache@v5\n        with: {key: [1]}\n",
        "jobs:\n  test:\n    runs-on: ${{ matrix.os\n    steps: []\n",
        "jobs:\n  test:\n    steps:\n      - uses: actions/setup-python@\n",
    ],
)
def test_malformed_workflows_never_raise(text: str) -> None:
    analysis = analyse(text, as_of=TODAY)
    assert analysis.findings == ()


def test_parsing_many_documents_keeps_no_state_behind() -> None:
    from bot.engine.document import _PARSER, parse_document

    for _ in range(50):
        parse_document("a: 1\n")
    assert len(_PARSER.doc_infos) == 0
