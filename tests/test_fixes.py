"""Fixes: minimal edits that keep comments, quoting and indentation, verified before they
are offered, and idempotent."""

from __future__ import annotations

import textwrap

import pytest
from minimal_change import changes_beyond_the_fix
from support import TODAY, analyse, check, fix_all, fix_problems

from bot.engine import Finding, Span, TextEdit, apply_edits


def fixed(workflow: str) -> str:
    """The text after applying the one finding's fix, which must verify."""
    text = textwrap.dedent(workflow)
    (finding,) = check(text)
    assert finding.fix is not None, finding
    assert fix_problems(text, finding) == []
    return apply_edits(text, finding.fix.edits)


def only_finding(workflow: str) -> Finding:
    (finding,) = check(workflow)
    return finding


MATRIX_WORKFLOW = """\
    on: push
    jobs:
      test:
        runs-on: ubuntu-latest
        strategy:
          matrix:
            python: ["3.14", "3.16"]
        steps:
          - uses: actions/setup-python@v6  # keep me
            with:
              python-version: ${{ matrix.python }}
              allow-prereleases: true
          - uses: actions/cache@v5
            with:
              path: ~/.cache/pip
              key: "pip-${{ runner.os }}-${{ matrix.python }}-${{ hashFiles('r.txt') }}"  # key
              restore-keys: |
                pip-${{ runner.os }}-${{ matrix.python }}-
                pip-${{ runner.os }}-
    """


def test_fix_adds_an_id_and_replaces_the_requested_version_everywhere() -> None:
    token = "${{ steps.setup-python.outputs.python-version }}"
    assert fixed(MATRIX_WORKFLOW) == textwrap.dedent(MATRIX_WORKFLOW).replace(
        "# keep me\n", "# keep me\n    id: setup-python\n".replace("    ", " " * 8, 1)
    ).replace(
        "pip-${{ runner.os }}-${{ matrix.python }}-$",
        f"pip-${{{{ runner.os }}}}-{token}-$",
    ).replace(
        "            pip-${{ runner.os }}-${{ matrix.python }}-\n",
        f"            pip-${{{{ runner.os }}}}-{token}-\n",
    ).replace("            pip-${{ runner.os }}-\n", "")


def test_fix_description_says_which_id_it_adds_and_which_restore_key_it_drops() -> None:
    finding = only_finding(textwrap.dedent(MATRIX_WORKFLOW))
    assert finding.fix is not None
    assert finding.fix.description == (
        "Key the cache on steps.setup-python.outputs.python-version, the exact build "
        "(adds id: setup-python to the setup-python step); drops the restore-key "
        "'pip-${{ runner.os }}-', which would restore a cache built by any Python"
    )


def test_fix_keeps_comments_and_double_quotes() -> None:
    result = fixed(MATRIX_WORKFLOW)
    assert "  # keep me\n" in result
    assert '}}"  # key\n' in result


def test_fix_is_idempotent() -> None:
    once, count = fix_all(textwrap.dedent(MATRIX_WORKFLOW), as_of=TODAY)
    assert count == 1
    assert analyse(once, as_of=TODAY).findings == ()
    assert fix_all(once, as_of=TODAY) == (once, 0)


def test_fix_uses_the_existing_step_id() -> None:
    text = textwrap.dedent(MATRIX_WORKFLOW).replace("# keep me\n", "# keep me\n        id: py\n")
    result = fixed(text)
    assert "steps.py.outputs.python-version" in result
    assert result.count("id:") == 1


def test_fix_adds_a_free_id_when_setup_python_is_taken() -> None:
    text = textwrap.dedent(MATRIX_WORKFLOW).replace(
        "      - uses: actions/setup-python@v6",
        "      - id: setup-python\n        run: echo hi\n      - uses: actions/setup-python@v6",
    )
    result = fixed(text)
    assert "        id: python\n" in result
    assert "steps.python.outputs.python-version" in result


def unversioned(key_lines: str) -> str:
    return (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n"
        "        id: py\n"
        "        with:\n"
        "          python-version: 3.16-dev\n"
        "      - uses: actions/cache@v5\n"
        "        with:\n"
        "          path: ~/.cache/pip\n" + key_lines
    )


TOKEN = "${{ steps.py.outputs.python-version }}"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("          key: pip-x\n", f"          key: pip-x-{TOKEN}\n"),
        ("          key: 'pip-x'\n", f"          key: 'pip-x-{TOKEN}'\n"),
        ('          key: "pip-x"  # c\n', f'          key: "pip-x-{TOKEN}"  # c\n'),
        (
            "          key: pip-${{ hashFiles('r.txt') }}\n",
            f"          key: pip-{TOKEN}-${{{{ hashFiles('r.txt') }}}}\n",
        ),
        (
            "          key: >-\n            pip-\n            ${{ runner.os }}\n",
            f"          key: >-\n            pip-\n            ${{{{ runner.os }}}}-{TOKEN}\n",
        ),
    ],
    ids=["plain", "single", "double-with-comment", "before-hashfiles", "folded"],
)
def test_fix_puts_the_exact_version_into_every_key_style(key: str, expected: str) -> None:
    assert fixed(unversioned(key)) == unversioned(expected)


def test_fix_extends_each_restore_key_as_a_prefix() -> None:
    key = f"          key: pip-{TOKEN}-x\n          restore-keys: |\n            pip-\n"
    finding = only_finding(unversioned(key))
    assert finding.rule_id == "WW002"
    assert fixed(unversioned(key)) == unversioned(key.replace("    pip-\n", f"    pip-{TOKEN}-\n"))


def test_fix_for_a_single_key_step_adds_the_id_after_uses() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n"
        "        with: {python-version: 3.16-dev}\n"
        "      - uses: actions/cache@v5\n"
        "        with: {path: ~/.cache/pip, key: pip-x}\n"
    )
    finding = only_finding(text)
    # A flow-style ``with`` cannot take a new line inside it; the id goes on the step.
    if finding.fix is not None:
        assert fix_problems(text, finding) == []


def test_no_fix_when_the_setup_step_is_a_flow_mapping() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - {uses: actions/setup-python@v6, with: {python-version: 3.16-dev}}\n"
        "      - uses: actions/cache@v5\n"
        "        with:\n          path: ~/.cache/pip\n          key: pip-x\n"
    )
    assert only_finding(text).fix is None


def test_no_fix_when_two_setup_python_steps_install_the_prereleases() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n"
        "        with:\n          python-version: 3.16-dev\n"
        "      - uses: actions/setup-python@v6\n"
        "        with:\n          python-version: 3.16t-dev\n"
        "      - uses: actions/cache@v5\n"
        "        with:\n          path: ~/.cache/pip\n          key: pip-x\n"
    )
    assert only_finding(text).fix is None


def test_no_fix_when_the_prerelease_comes_from_uv() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: uv python install 3.16\n"
        "      - uses: actions/cache@v5\n"
        "        with:\n          path: ~/.cache/uv\n          key: uv-x\n"
    )
    assert only_finding(text).fix is None


def test_fix_edits_carry_spans_of_the_text_they_replace() -> None:
    text = unversioned("          key: pip-x\n")
    finding = only_finding(text)
    assert finding.fix is not None
    (edit,) = finding.fix.edits
    assert (edit.span.line, edit.span.column) == (13, 21)
    assert edit.start == edit.end == text.index("pip-x") + len("pip-x")


def test_overlapping_edits_are_refused() -> None:
    first = TextEdit(0, 4, "a", Span(1, 1, 1, 5))
    second = TextEdit(2, 6, "b", Span(1, 3, 1, 7))
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits("0123456789", [first, second])


def test_two_insertions_at_one_point_are_applied_in_order() -> None:
    first = TextEdit(2, 2, "a", Span(1, 3, 1, 3))
    second = TextEdit(2, 2, "b", Span(1, 3, 1, 3))
    assert apply_edits("0123", [first, second]) == "01ab23"


def test_fix_all_fixes_two_caches_keyed_on_one_setup_step() -> None:
    text = textwrap.dedent(
        """\
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
                  key: pip-x
              - uses: actions/cache@v5
                with:
                  path: .venv
                  key: venv-x
        """
    )
    result, count = fix_all(text, as_of=TODAY)
    assert count == 2
    assert result.count("id: setup-python") == 1
    assert analyse(result, as_of=TODAY).findings == ()


def test_fix_extends_a_plain_restore_key_that_repeats_the_start_of_an_earlier_one() -> None:
    key = (
        f"          key: pip-{TOKEN}-x\n"
        "          restore-keys: |\n"
        "            pip-${{ hashFiles('r.txt') }}-\n"
        "            pip-\n"
    )
    assert fixed(unversioned(key)) == unversioned(
        key.replace("pip-${{ hashFiles", f"pip-{TOKEN}-${{{{ hashFiles").replace(
            "    pip-\n", f"    pip-{TOKEN}-\n"
        )
    )


SETUP_UV_FIRST = """\
    on: push
    jobs:
      test:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v5
          - name: Install uv  # caches by default
            uses: astral-sh/setup-uv@v7
          - uses: actions/setup-python@v6
            with:
              python-version: "3.16"
              allow-prereleases: true
          - run: uv sync
    """


def test_fix_moves_setup_uv_below_the_setup_python_step() -> None:
    assert fixed(SETUP_UV_FIRST) == textwrap.dedent(
        """\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v5
              - uses: actions/setup-python@v6
                with:
                  python-version: "3.16"
                  allow-prereleases: true
              - name: Install uv  # caches by default
                uses: astral-sh/setup-uv@v7
              - run: uv sync
        """
    )


def test_fix_moves_setup_uv_below_a_setup_python_step_that_ends_the_job() -> None:
    text = textwrap.dedent(SETUP_UV_FIRST).replace("      - run: uv sync\n", "")
    assert fixed(text).endswith(
        "    - name: Install uv  # caches by default\n        uses: astral-sh/setup-uv@v7\n"
    )


def test_no_move_fix_when_uv_installs_the_prerelease_itself() -> None:
    text = textwrap.dedent(SETUP_UV_FIRST).replace(
        "      - run: uv sync\n", "      - run: uv python install 3.16\n"
    )
    findings = check(text)
    assert [f.rule_id for f in findings] == ["WW006"]
    assert findings[0].fix is None


CACHE_FIRST = """\
    on: push
    jobs:
      test:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/cache@v5
            with:
              path: ~/.cache/pip
              key: pip-${{ hashFiles('r') }}
          - uses: actions/setup-python@v6
            with:
              python-version: "3.16-dev"
          - run: pip install -r r.txt
    """


def test_fix_puts_setup_python_before_a_cache_restored_before_it() -> None:
    assert fixed(CACHE_FIRST) == textwrap.dedent(
        """\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/setup-python@v6
                id: setup-python
                with:
                  python-version: "3.16-dev"
              - uses: actions/cache@v5
                with:
                  path: ~/.cache/pip
                  key: pip-${{ steps.setup-python.outputs.python-version }}-${{ hashFiles('r') }}
              - run: pip install -r r.txt
        """
    )


def test_fix_all_fixes_several_caches_that_precede_setup_python() -> None:
    text = textwrap.dedent(CACHE_FIRST).replace(
        "      - uses: actions/setup-python@v6\n",
        "      - name: second\n        uses: actions/cache@v5\n        with:\n"
        "          path: ~/.cache/uv\n          key: uv-x\n"
        "      - uses: actions/setup-python@v6\n",
    )
    fixed_text, count = fix_all(text, as_of=TODAY)
    assert count == 2
    assert analyse(fixed_text, as_of=TODAY).findings == ()


def test_finding_identity_survives_a_step_added_above() -> None:
    text = textwrap.dedent(MATRIX_WORKFLOW)
    (before,) = check(text)
    shifted = text.replace("    steps:\n", "    steps:\n      - run: echo first\n")
    (after,) = check(shifted)
    assert after.fingerprint == before.fingerprint


# --- changing only what must change (issue #7) ---------------------------------------------


def matrix_cache(cache_lines: str) -> str:
    """A matrix job whose setup-python (id: py) installs ``matrix.python``, then a pip
    cache with ``cache_lines`` under ``with:``."""
    return (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    strategy:\n      matrix:\n"
        '        python: ["3.14", "3.16-dev"]\n        arch: [x64, x86]\n'
        "    steps:\n"
        "      - uses: actions/setup-python@v6\n"
        "        id: py\n"
        "        with:\n"
        "          python-version: ${{ matrix.python }}\n"
        "      - uses: actions/cache@v5\n"
        "        with:\n"
        "          path: ~/.cache/pip\n" + cache_lines
    )


def test_fix_keeps_a_cache_bust_token_in_the_restore_key() -> None:
    lines = (
        "          key: ${{ runner.os }}-${{ matrix.python }}-v1-${{ hashFiles('r.txt') }}\n"
        "          restore-keys: |\n"
        "            ${{ runner.os }}-${{ matrix.python }}-v1-\n"
    )
    expected = lines.replace("${{ matrix.python }}", TOKEN)
    assert fixed(matrix_cache(lines)) == matrix_cache(expected)


def test_fix_keeps_the_other_matrix_axes_of_each_restore_key() -> None:
    lines = (
        "          key: pip-${{ matrix.python }}-${{ matrix.arch }}-${{ hashFiles('r.txt') }}\n"
        "          restore-keys: |\n"
        "            pip-${{ matrix.python }}-${{ matrix.arch }}-\n"
        "            pip-${{ matrix.python }}-\n"
    )
    expected = lines.replace("${{ matrix.python }}", TOKEN)
    assert fixed(matrix_cache(lines)) == matrix_cache(expected)


def test_fix_keeps_a_dollarless_expression_typo_as_written() -> None:
    lines = (
        "          key: pip-${{ matrix.python }}-{{ matrix.arch }}-${{ hashFiles('r.txt') }}\n"
        "          restore-keys: |\n"
        "            pip-${{ matrix.python }}-{{ matrix.arch }}-\n"
    )
    expected = lines.replace("${{ matrix.python }}", TOKEN)
    assert fixed(matrix_cache(lines)) == matrix_cache(expected)


def test_fix_drops_a_version_less_restore_key_rather_than_copy_another() -> None:
    lines = (
        "          key: pip-${{ matrix.python }}-${{ hashFiles('r.txt') }}\n"
        "          restore-keys: |\n"
        "            pip-${{ matrix.python }}-\n"
        "            pip-\n"
    )
    expected = lines.replace("${{ matrix.python }}", TOKEN).replace("            pip-\n", "")
    assert fixed(matrix_cache(lines)) == matrix_cache(expected)


def test_fix_description_says_which_restore_key_it_drops() -> None:
    lines = (
        "          key: pip-${{ matrix.python }}-x\n"
        "          restore-keys: |\n"
        "            pip-${{ matrix.python }}-\n"
        "            pip-\n"
    )
    fix = only_finding(matrix_cache(lines)).fix
    assert fix is not None
    assert fix.description.endswith(
        "; drops the restore-key 'pip-', which would restore a cache built by any Python"
    )


def test_fix_drops_the_restore_keys_entry_when_its_only_line_would_copy_the_key() -> None:
    lines = "          key: pip-${{ matrix.python }}\n          restore-keys: |\n            pip-\n"
    assert fixed(matrix_cache(lines)) == matrix_cache(f"          key: pip-{TOKEN}\n")


def test_fix_never_leaves_two_identical_restore_keys() -> None:
    lines = (
        "          key: ${{ runner.os }}-pip-${{ matrix.python }}-x\n"
        "          restore-keys: |\n"
        "            ${{ runner.os }}-pip-${{ matrix.python }}-\n"
        "            ${{ runner.os }}-pip-\n"
    )
    result = fixed(matrix_cache(lines))
    restore = result.split("restore-keys: |\n")[1].splitlines()
    assert len(restore) == len(set(restore)) == 1


CACHES_THEN_SETUP = """\
    on: push
    jobs:
      test:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v5

          # Configure pip cache
          - name: Cache pip (Linux)
            uses: actions/cache@v5
            with:
              path: ~/.cache/pip
              key: pip-${{ hashFiles('r') }}

          - name: Cache pip (macOS)
            uses: actions/cache@v5
            with:
              path: ~/Library/Caches/pip
              key: pip-${{ hashFiles('r') }}

          # Set up Python
          - uses: actions/setup-python@v6
            with:
              python-version: "3.16-dev"

          # Install dependencies
          - run: pip install -r r
    """


def test_setup_step_moves_above_the_caches_with_its_comment_and_they_keep_their_order() -> None:
    text = textwrap.dedent(CACHES_THEN_SETUP)
    result, count = fix_all(text, as_of=TODAY)
    token = "${{ steps.setup-python.outputs.python-version }}"
    assert count == 2
    assert result == text.replace(
        "\n      # Configure pip cache\n",
        "\n      # Set up Python\n"
        "      - uses: actions/setup-python@v6\n"
        "        id: setup-python\n"
        "        with:\n"
        '          python-version: "3.16-dev"\n'
        "\n"
        "      # Configure pip cache\n",
    ).replace(
        "\n      # Set up Python\n      - uses: actions/setup-python@v6\n        with:\n"
        '          python-version: "3.16-dev"\n\n',
        "\n",
    ).replace("pip-${{ hashFiles", f"pip-{token}-${{{{ hashFiles")


def test_cache_moves_below_the_setup_step_with_its_comment_when_another_step_is_between() -> None:
    text = textwrap.dedent(
        """\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              # Restore the pip cache
              - uses: actions/cache@v5
                with:
                  path: ~/.cache/pip
                  key: pip-x

              - run: echo between
              # Set up Python
              - uses: actions/setup-python@v6
                with:
                  python-version: "3.16-dev"
              # Test
              - run: pytest
        """
    )
    assert fixed(text) == textwrap.dedent(
        """\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - run: echo between
              # Set up Python
              - uses: actions/setup-python@v6
                id: setup-python
                with:
                  python-version: "3.16-dev"

              # Restore the pip cache
              - uses: actions/cache@v5
                with:
                  path: ~/.cache/pip
                  key: pip-x-${{ steps.setup-python.outputs.python-version }}
              # Test
              - run: pytest
        """
    )


def test_fix_of_a_crlf_file_adds_crlf_lines() -> None:
    text = textwrap.dedent(MATRIX_WORKFLOW).replace("\n", "\r\n")
    (finding,) = check(text)
    assert finding.fix is not None
    result = apply_edits(text, finding.fix.edits)
    assert "id: setup-python\r\n" in result
    assert result.count("\n") == result.count("\r\n")


def test_hash_step_of_a_crlf_file_has_crlf_lines() -> None:
    text = (
        "on: push\r\njobs:\r\n  test:\r\n    runs-on: ubuntu-latest\r\n    steps:\r\n"
        "      - uses: deadsnakes/action@v3.2.0\r\n"
        "        with:\r\n          python-version: 3.16-dev\r\n"
        "      - uses: actions/cache@v5\r\n"
        "        with:\r\n          path: ~/.cache/pip\r\n          key: pip-x\r\n"
    )
    (finding,) = check(text)
    assert finding.fix is not None
    result = apply_edits(text, finding.fix.edits)
    assert "python -VV" in result
    assert result.count("\n") == result.count("\r\n")


# --- workflows written in the styles of real ones, not in the corpus -----------------------
# Each is fixed by fix_all and compared mechanically with its original (tests/minimal_change.py),
# as written and with CRLF line endings.

UNSEEN = {
    "folded": """\
        on:
          push:
            branches: [main]
        jobs:
          test:
            runs-on: ubuntu-latest
            strategy:
              matrix:
                py: ['3.12', '3.16-dev']
            steps:
            - uses: actions/checkout@v4
            - uses: actions/setup-python@v5
              with:
                python-version: ${{ matrix.py }}
            - name: pip cache
              uses: actions/cache@v4
              with:
                path: ~/.cache/pip
                key: >-
                  ${{ runner.os }}-pip-py${{ matrix.py }}-
                  ${{ hashFiles('requirements/*.txt') }}
                restore-keys: >-
                  ${{ runner.os }}-pip-py${{ matrix.py }}-
            - run: pip install -r requirements/test.txt
            - run: pytest
        """,
    "cache-first": """\
        on: pull_request
        jobs:
          build:
            runs-on: macos-14
            steps:
              # Restore pip's wheel cache first, it takes a while on macOS
              - name: Cache wheels
                uses: actions/cache@v4
                with:
                  path: ~/Library/Caches/pip
                  key: wheels-${{ runner.os }}-${{ hashFiles('setup.cfg') }}
                  restore-keys: |
                    wheels-${{ runner.os }}-

              - name: Check out
                uses: actions/checkout@v4

              # 3.16 is in alpha
              - name: Set up Python
                uses: actions/setup-python@v5
                with:
                  python-version: '3.16'
                  allow-prereleases: true

              - name: Build
                run: python -m pip wheel . -w dist
        """,
    "deadsnakes": """\
        on: push
        jobs:
          nightly:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - name: Python nightly (deadsnakes)
                uses: deadsnakes/action@v3.2.0
                with:
                  python-version: "3.16-dev"
              - name: Cache pip
                uses: actions/cache@v4
                with:
                  path: ~/.cache/pip
                  key: ${{ runner.os }}-nightly-pip-${{ hashFiles('**/pyproject.toml') }}
                  restore-keys: ${{ runner.os }}-nightly-pip-
              - run: pip install -e .[test]
        """,
    "format": """\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            strategy:
              matrix:
                python: ["3.14", "3.16-dev"]
            steps:
              - uses: actions/setup-python@v5
                id: setup
                with:
                  python-version: ${{ matrix.python }}
              - uses: actions/cache@v4
                with:
                  path: ~/.cache/pip
                  key: ${{ format('pip-{0}-{1}', runner.os, matrix.python) }}-${{ hashFiles('r') }}
                  restore-keys: |
                    ${{ format('pip-{0}-{1}', runner.os, matrix.python) }}-
        """,
    "named-caches-first": """\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              # pip
              - name: Cache pip
                uses: actions/cache@v4
                with:
                  path: ~/.cache/pip
                  key: pip-${{ hashFiles('requirements.txt') }}
              # uv
              - name: Cache uv
                uses: actions/cache@v4
                with:
                  path: ~/.cache/uv
                  key: uv-${{ hashFiles('uv.lock') }}
              - uses: actions/checkout@v4
              - uses: actions/setup-python@v5
                with:
                  python-version: 3.16-dev
              - run: pip install -r requirements.txt
        """,
    "pip-axes": """\
        name: tests
        on: [push, pull_request]
        jobs:
          tox:
            name: ${{ matrix.toxenv }} on ${{ matrix.os }}
            runs-on: ${{ matrix.os }}
            strategy:
              fail-fast: false
              matrix:
                os: [ubuntu-22.04, windows-2022]
                python-version: ["3.13", "3.14", "3.16-dev"]
                toxenv: [py]
            steps:
              - uses: actions/checkout@v4
              - name: Set up Python ${{ matrix.python-version }}
                uses: actions/setup-python@v5
                with:
                  python-version: ${{ matrix.python-version }}
              # Re-use the tox environments between runs; bump v3 to reset them.
              - name: Cache pip
                uses: actions/cache@v4
                with:
                  path: ~/.cache/pip
                  key: "tox-v3-${{ matrix.os }}-${{ matrix.python-version }}-\\
                    ${{ matrix.toxenv }}-${{ hashFiles('tox.ini', 'pyproject.toml') }}"
                  restore-keys: |
                    tox-v3-${{ matrix.os }}-${{ matrix.python-version }}-${{ matrix.toxenv }}-
                    tox-v3-${{ matrix.os }}-${{ matrix.python-version }}-
                    tox-v3-${{ matrix.os }}-
              - run: python -m pip install tox
              - run: tox -e ${{ matrix.toxenv }}
        """,
}


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("name", UNSEEN)
def test_fix_all_of_an_unseen_workflow_changes_only_what_must_change(
    name: str, newline: str
) -> None:
    text = textwrap.dedent(UNSEEN[name]).replace("\n", newline)
    result, count = fix_all(text, as_of=TODAY)
    assert count >= 1
    assert analyse(result, as_of=TODAY).findings == ()
    assert changes_beyond_the_fix(text, result) == []
