"""WW003-WW006: the caches built into actions/setup-python and astral-sh/setup-uv
(caching-facts §2, §5.1), including what a floating tag meant on a given date."""

from __future__ import annotations

import textwrap
from datetime import date

import pytest
from support import check, rule_ids


def setup_python(ref: str, versions: str = "3.16-dev", cache: str = "pip") -> str:
    return textwrap.dedent(
        f"""\
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/setup-python@{ref}
                with:
                  python-version: {versions}
                  cache: {cache}
        """
    )


@pytest.mark.parametrize("ref", ["v2.3.2", "v2.3.4", "v3", "v4", "v5", "v6", "v7.0.0", "main"])
def test_setup_python_cache_pip_at_v2_3_2_or_later_is_not_flagged(ref: str) -> None:
    assert rule_ids(setup_python(ref)) == []


def test_setup_python_cache_pip_at_v2_3_2_is_not_flagged() -> None:
    assert rule_ids(setup_python("v2.3.2")) == []


@pytest.mark.parametrize("ref", ["v2.3.0", "v2.3.1", "0066b88440aa9562be742e2c60ee750fc57d8849"])
def test_setup_python_cache_pip_at_v2_3_0_and_v2_3_1_is_flagged(ref: str) -> None:
    assert rule_ids(setup_python(ref)) == ["WW003"]


def test_setup_python_unversioned_pin_fix_moves_to_v2_3_4() -> None:
    (finding,) = check(setup_python("v2.3.1"))
    assert finding.fix is not None
    assert [edit.replacement for edit in finding.fix.edits] == ["v2.3.4"]


def test_setup_python_sha_pin_is_not_rewritten() -> None:
    (finding,) = check(setup_python("f38219332975fe8f9c04cca981d674bf22aea1d3"))
    assert finding.fix is None


def test_setup_python_sha_pin_with_a_later_version_comment_is_not_flagged() -> None:
    text = setup_python("a26af69be951a213d495a4c3e4e4022e16d87065  # v5.6.0")
    assert rule_ids(text) == []


def test_setup_python_v2_floating_tag_was_unsafe_before_2022_02_04() -> None:
    text = setup_python("v2")
    assert rule_ids(text, as_of=date(2022, 1, 10)) == ["WW003"]
    assert rule_ids(text, as_of=date(2022, 2, 4)) == []


def test_setup_python_v2_before_the_cache_input_existed_is_not_flagged() -> None:
    assert rule_ids(setup_python("v2", versions="3.11-dev"), as_of=date(2021, 10, 1)) == []


def test_setup_python_v2_3_1_is_not_flagged_without_a_prerelease() -> None:
    assert rule_ids(setup_python("v2.3.1", versions="3.14")) == []


def test_setup_python_cache_npm_is_not_a_python_cache() -> None:
    assert rule_ids(setup_python("v2.3.1", cache="npm")) == []


def test_setup_python_multiline_version_with_a_prerelease_is_flagged() -> None:
    versions = "|\n                    3.16-dev\n                    3.14"
    (finding,) = check(setup_python("v6", versions=versions))
    assert finding.rule_id == "WW003"
    assert "3.14" in finding.message
    assert finding.fix is None


def test_setup_python_multiline_version_of_stable_pythons_is_not_flagged() -> None:
    assert (
        rule_ids(
            setup_python("v6", versions="|\n                    3.13\n                    3.14")
        )
        == []
    )


def test_setup_python_pypy_nightly_key_is_the_constant_word_nightly() -> None:
    (finding,) = check(setup_python("v6", versions="pypy3.11-nightly"))
    assert finding.rule_id == "WW003"
    assert "nightly" in finding.message


def test_setup_python_pypy_release_is_not_flagged() -> None:
    assert rule_ids(setup_python("v6", versions="pypy3.11")) == []


# --- setup-uv -----------------------------------------------------------------------------


def setup_uv(ref: str, with_: str = "", before: str = "", after: str = "") -> str:
    inputs = "".join(f"\n          {line}" for line in with_.splitlines())
    step = f"      - uses: astral-sh/setup-uv@{ref}\n"
    if inputs:
        step += f"        with:{inputs}\n"
    return "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n" + (
        before + step + after
    )


SETUP_PYTHON_316 = (
    "      - uses: actions/setup-python@v6\n"
    "        with:\n"
    "          python-version: '3.16'\n"
    "          allow-prereleases: true\n"
)


def test_setup_uv_requested_prerelease_minor_is_keyed_verbatim() -> None:
    (finding,) = check(setup_uv("v6", "python-version: '3.16'"))
    assert finding.rule_id == "WW004"
    assert finding.rule_name == "setup-uv-requested-version-key"


def test_setup_uv_requested_final_minor_is_not_flagged() -> None:
    assert rule_ids(setup_uv("v6", "python-version: '3.15'")) == []


def test_setup_uv_exact_prerelease_request_is_not_flagged() -> None:
    assert rule_ids(setup_uv("v6", "python-version: '3.16.0a2'")) == []


def test_setup_uv_with_caching_disabled_is_not_flagged() -> None:
    text = setup_uv("v6", "python-version: '3.16'\nenable-cache: false")
    assert rule_ids(text) == []


def test_setup_uv_before_v5_caches_without_python_version() -> None:
    (finding,) = check(setup_uv("v4", "enable-cache: true", before=SETUP_PYTHON_316))
    assert finding.rule_id == "WW005"
    assert finding.fix is not None
    assert [edit.replacement for edit in finding.fix.edits] == ["v5"]


def test_setup_uv_upgrade_fix_is_withheld_when_v5_would_key_on_the_wrong_python() -> None:
    text = setup_uv("v4", "enable-cache: true", after="      - run: uv python install 3.16\n")
    (finding,) = check(text)
    assert finding.rule_id == "WW005"
    assert finding.fix is None


def test_setup_uv_before_v5_does_not_cache_unless_enabled() -> None:
    assert rule_ids(setup_uv("v4", after="      - run: uv python install 3.16\n")) == []


def test_setup_uv_before_setup_python_keys_on_the_wrong_interpreter() -> None:
    (finding,) = check(setup_uv("v6", after=SETUP_PYTHON_316))
    assert finding.rule_id == "WW006"
    assert "runner's default Python" in finding.message


def test_setup_uv_after_setup_python_keys_on_the_resolved_version() -> None:
    assert rule_ids(setup_uv("v6", before=SETUP_PYTHON_316)) == []


def test_setup_uv_cache_suffix_with_the_exact_version_is_safe() -> None:
    text = setup_uv(
        "v6",
        "cache-suffix: ${{ steps.py.outputs.python-version }}",
        before=SETUP_PYTHON_316.replace("        with:", "        id: py\n        with:"),
    )
    assert rule_ids(text) == []


def nox_job(versions: str, key: str) -> str:
    return (
        "on: push\njobs:\n  nox:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: wntrblm/nox@2025.10.16\n        with:\n"
        f"          python-versions: '{versions}'\n"
        "      - uses: actions/cache@v5\n        with:\n          path: .nox\n"
        f"          key: {key}\n"
    )


def test_nox_action_installs_prereleases_from_its_list() -> None:
    assert rule_ids(nox_job("3.14, 3.16", "nox-${{ hashFiles('noxfile.py') }}")) == ["WW001"]


def test_nox_action_with_final_versions_only_is_safe() -> None:
    assert rule_ids(nox_job("3.14, 3.15", "nox-${{ hashFiles('noxfile.py') }}")) == []


def test_python_location_after_nox_names_only_its_last_python() -> None:
    key = "nox-${{ env.pythonLocation }}"
    assert rule_ids(nox_job("3.14, 3.16", key)) == []
    assert rule_ids(nox_job("3.16, 3.14", key)) == ["WW001"]


def test_deadsnakes_python_after_a_cached_setup_python_shares_its_pip_cache() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n        with:\n"
        "          python-version: '3.14'\n          cache: pip\n"
        "      - uses: deadsnakes/action@v3.2.0\n        with:\n"
        "          python-version: '3.16-dev'\n"
    )
    (finding,) = check(text)
    assert finding.rule_id == "WW003"
    assert "installed later" in finding.message


def test_deadsnakes_python_skipped_in_cached_rows_is_not_flagged() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    strategy:\n      matrix:\n        py: ['3.14', '3.16-dev']\n    steps:\n"
        "      - uses: actions/setup-python@v6\n"
        "        if: \"!endsWith(matrix.py, '-dev')\"\n        with:\n"
        "          python-version: ${{ matrix.py }}\n          cache: pip\n"
        "      - uses: deadsnakes/action@v3.2.0\n"
        "        if: endsWith(matrix.py, '-dev')\n        with:\n"
        "          python-version: ${{ matrix.py }}\n"
    )
    assert rule_ids(text) == []
