"""Matrix expansion and conditions: which rows of a job can run a pre-release."""

from __future__ import annotations

import textwrap

from support import check, rule_ids

from bot.engine.document import parse_document
from bot.engine.workflow import expand_matrix


def matrix_job(matrix: str, *, step_if: str = "", job_if: str = "") -> str:
    """A job whose setup-python and pip cache both read ``matrix.python``."""
    matrix = textwrap.indent(textwrap.dedent(matrix).strip(), " " * 8)
    cache_if = f"        if: {step_if}\n" if step_if else ""
    condition = f"    if: {job_if}\n" if job_if else ""
    return (
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        f"{condition}"
        "    runs-on: ${{ matrix.os }}\n"
        "    strategy:\n"
        "      matrix:\n"
        f"{matrix}\n"
        "    steps:\n"
        "      - uses: actions/setup-python@v6\n"
        "        with:\n"
        "          python-version: ${{ matrix.python }}\n"
        "          allow-prereleases: true\n"
        "      - uses: actions/cache@v5\n"
        f"{cache_if}"
        "        with:\n"
        "          path: ~/.cache/pip\n"
        "          key: pip-${{ matrix.os }}-${{ matrix.python }}\n"
    )


def rows(matrix: str) -> list[dict[str, object]]:
    expanded = expand_matrix(parse_document(textwrap.dedent(matrix)))
    assert expanded is not None
    return expanded  # type: ignore[return-value]


def test_plain_matrix_with_a_prerelease_row_is_flagged() -> None:
    (finding,) = check(matrix_job("os: [ubuntu-latest]\npython: ['3.14', '3.16']"))
    assert finding.rule_id == "WW001"
    assert finding.pythons == ("3.16 (pre-release builds until 3.16.0 final, expected 2027-10-05)",)


def test_matrix_of_final_pythons_is_not_flagged() -> None:
    assert rule_ids(matrix_job("os: [ubuntu-latest]\npython: ['3.14', '3.15']")) == []


def test_yaml_float_3_10_is_read_as_3_1() -> None:
    # GitHub reads the unquoted 3.10 as the number 3.1: not a pre-release either way.
    assert rule_ids(matrix_job("os: [ubuntu-latest]\npython: [3.10, 3.14]")) == []


def test_matrix_include_adds_a_new_combination() -> None:
    matrix = """\
        os: [ubuntu-latest]
        python: ['3.14']
        include:
          - os: windows-latest
            python: '3.16'
    """
    (finding,) = check(matrix_job(matrix))
    assert finding.rule_id == "WW001"


def test_matrix_include_adds_a_new_key_to_matching_rows() -> None:
    assert rows(
        """\
        python: ['3.14', '3.16']
        include:
          - python: '3.16'
            experimental: true
        """
    ) == [{"python": "3.14"}, {"python": "3.16", "experimental": True}]


def test_matrix_include_does_not_overwrite_original_values() -> None:
    assert rows(
        """\
        os: [a, b]
        python: ['3.14']
        include:
          - os: a
            python: '3.16'
        """
    ) == [
        {"os": "a", "python": "3.14"},
        {"os": "b", "python": "3.14"},
        {"os": "a", "python": "3.16"},
    ]


def test_matrix_exclude_removes_the_prerelease_row() -> None:
    matrix = """\
        os: [ubuntu-latest, windows-latest]
        python: ['3.14', '3.16']
        exclude:
          - python: '3.16'
    """
    assert rule_ids(matrix_job(matrix)) == []


def test_matrix_exclude_of_one_os_keeps_the_other_prerelease_row() -> None:
    matrix = """\
        os: [ubuntu-latest, windows-latest]
        python: ['3.14', '3.16']
        exclude:
          - os: windows-latest
            python: '3.16'
    """
    assert rule_ids(matrix_job(matrix)) == ["WW001"]


def test_matrix_of_only_include_entries() -> None:
    matrix = """\
        include:
          - {os: ubuntu-latest, python: '3.14'}
          - {os: macos-latest, python: '3.16'}
    """
    assert rule_ids(matrix_job(matrix)) == ["WW001"]


def test_step_if_skipping_prerelease_rows_is_respected() -> None:
    matrix = "os: [ubuntu-latest]\npython: ['3.14', '3.16']"
    assert rule_ids(matrix_job(matrix, step_if="matrix.python != '3.16'")) == []
    assert rule_ids(matrix_job(matrix, step_if="${{ !startsWith(matrix.python, '3.16') }}")) == []


def test_step_if_that_keeps_prerelease_rows_still_flags() -> None:
    matrix = "os: [ubuntu-latest]\npython: ['3.14', '3.16']"
    assert rule_ids(matrix_job(matrix, step_if="runner.os == 'Linux'")) == ["WW001"]


def test_step_if_that_cannot_be_evaluated_is_assumed_to_run() -> None:
    matrix = "os: [ubuntu-latest]\npython: ['3.14', '3.16']"
    assert rule_ids(matrix_job(matrix, step_if="github.event_name == 'push'")) == ["WW001"]


def test_job_if_excluding_every_prerelease_row_is_respected() -> None:
    matrix = "os: [ubuntu-latest]\npython: ['3.16']"
    assert rule_ids(matrix_job(matrix, job_if="matrix.python == '3.14'")) == []


def test_fromjson_literal_matrix_is_expanded() -> None:
    matrix = """python: ${{ fromJSON('["3.14", "3.16"]') }}\nos: [ubuntu-latest]"""
    assert rule_ids(matrix_job(matrix)) == ["WW001"]


def test_fromjson_of_a_job_output_matrix_is_unknown_and_not_flagged() -> None:
    matrix = "python: ${{ fromJSON(needs.setup.outputs.pythons) }}\nos: [ubuntu-latest]"
    assert rule_ids(matrix_job(matrix)) == []


def test_matrix_values_reach_env_and_format_expressions() -> None:
    text = textwrap.dedent(
        """\
        on: push
        env:
          CACHE_PREFIX: pip
        jobs:
          test:
            runs-on: ubuntu-latest
            strategy:
              matrix:
                minor: ['14', '16']
            env:
              PY: ${{ format('3.{0}', matrix.minor) }}
            steps:
              - uses: actions/setup-python@v6
                with:
                  python-version: ${{ env.PY }}
                  allow-prereleases: true
              - uses: actions/cache@v5
                with:
                  path: ~/.cache/pip
                  key: ${{ env.CACHE_PREFIX }}-${{ join(matrix.*, '-') }}
        """
    )
    (finding,) = check(text)
    assert finding.rule_id == "WW001"
    assert finding.pythons[0].startswith("3.16")
