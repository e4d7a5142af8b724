"""WW001 prerelease-cache-key and WW002 prerelease-restore-key: actions/cache steps whose
key or restore-keys do not name the exact Python build (caching-facts §4, §8.2)."""

from __future__ import annotations

import pytest
from support import TODAY, analyse, check, fix_all, fix_problems, rule_ids

from bot.engine import apply_edits

SETUP_316 = """\
          - uses: actions/setup-python@v6
            id: py
            with:
              python-version: "3.16"
              allow-prereleases: true
"""


def job(cache: str, setup: str = SETUP_316, extra_steps: str = "") -> str:
    return (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        + setup.replace("          ", "      ", -1)
        + extra_steps
        + cache
    )


def cache_step(
    key: str, restore: str | None = None, path: str = "~/.cache/pip", uses: str = "actions/cache@v5"
) -> str:
    text = f"      - uses: {uses}\n        with:\n          path: {path}\n          key: {key}\n"
    if restore is not None:
        text += f"          restore-keys: |\n            {restore}\n"
    return text


EXACT = "pip-${{ steps.py.outputs.python-version }}-${{ hashFiles('r.txt') }}"


def test_key_without_python_version_is_flagged() -> None:
    assert rule_ids(job(cache_step("pip-${{ hashFiles('r.txt') }}"))) == ["WW001"]


def test_key_with_the_requested_version_is_flagged() -> None:
    text = job(
        cache_step("pip-${{ matrix.python }}"),
        setup=SETUP_316.replace('"3.16"', "${{ matrix.python }}"),
    ).replace("    steps:", "    strategy:\n      matrix:\n        python: ['3.16']\n    steps:")
    (finding,) = check(text)
    assert finding.rule_id == "WW001"
    assert "requested Python version" in finding.message


def test_key_with_setup_python_output_is_safe() -> None:
    assert rule_ids(job(cache_step(EXACT))) == []


def test_key_with_python_location_is_safe() -> None:
    assert rule_ids(job(cache_step("pip-${{ env.pythonLocation }}-x"))) == []


def test_python_location_is_not_exact_with_update_environment_false() -> None:
    setup = SETUP_316 + "              update-environment: false\n"
    assert rule_ids(job(cache_step("pip-${{ env.pythonLocation }}-x"), setup=setup)) == ["WW001"]


def test_output_of_a_setup_step_after_the_cache_does_not_count() -> None:
    text = (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        + cache_step(EXACT)
        + SETUP_316.replace("          ", "      ")
    )
    assert rule_ids(text) == ["WW001"]


def test_output_of_another_step_id_does_not_count() -> None:
    key = "pip-${{ steps.checkout.outputs.python-version }}"
    assert rule_ids(job(cache_step(key))) == ["WW001"]


def test_key_with_a_python_vv_hash_step_is_safe() -> None:
    extra = (
        '      - id: version\n        run: echo "v=$(python -VV | sha256sum)" >> "$GITHUB_OUTPUT"\n'
    )
    text = job(cache_step("pip-${{ steps.version.outputs.v }}"), extra_steps=extra)
    assert rule_ids(text) == []


def test_key_with_an_env_var_holding_python_vv_is_safe() -> None:
    extra = '      - run: echo "PYVV=$(python -VV)" >> "$GITHUB_ENV"\n'
    assert rule_ids(job(cache_step("pip-${{ env.PYVV }}"), extra_steps=extra)) == []


def test_restore_key_without_version_reopens_the_hazard() -> None:
    (finding,) = check(job(cache_step(EXACT, restore="pip-")))
    assert finding.rule_id == "WW002"
    assert "'pip-'" in finding.message


def test_restore_key_with_the_exact_version_is_safe() -> None:
    restore = "pip-${{ steps.py.outputs.python-version }}-"
    assert rule_ids(job(cache_step(EXACT, restore=restore))) == []


def test_unversioned_key_and_restore_key_are_one_ww001() -> None:
    assert rule_ids(job(cache_step("pip-x", restore="pip-"))) == ["WW001"]


def test_exact_prerelease_pin_in_key_is_safe() -> None:
    setup = SETUP_316.replace('"3.16"', '"3.16.0-alpha.2"')
    assert rule_ids(job(cache_step("pip-3.16.0-alpha.2-x"), setup=setup)) == []


def test_exact_prerelease_pin_missing_from_key_is_flagged() -> None:
    setup = SETUP_316.replace('"3.16"', '"3.16.0-alpha.2"')
    assert rule_ids(job(cache_step("pip-3.16-x"), setup=setup)) == ["WW001"]


def test_path_under_python_location_is_protected_by_the_cache_version() -> None:
    path = "${{ env.pythonLocation }}/lib/python3.16/site-packages"
    assert rule_ids(job(cache_step("site-${{ hashFiles('r.txt') }}", path=path))) == []


@pytest.mark.parametrize(
    "path",
    [
        "~/.cache/pip",
        "~/Library/Caches/pip",
        "~\\AppData\\Local\\pip\\Cache",
        "~/.cache/uv",
        "~/.cache/pypoetry",
        "~/.local/share/virtualenvs",
        ".venv",
        "venv",
        ".nox",
        "${{ env.PIP_CACHE_DIR }}",
        "~/.cache",
        "~/.cache/pdm",
        "~/.local/share/hatch",
    ],
)
def test_python_artefact_paths_are_recognised(path: str) -> None:
    assert rule_ids(job(cache_step("k-${{ hashFiles('r.txt') }}", path=path))) == ["WW001"]


@pytest.mark.parametrize("path", ["~/.npm", "cldr/", "node_modules", "~/.cargo/registry"])
def test_caches_of_other_things_are_not_flagged(path: str) -> None:
    assert rule_ids(job(cache_step("k-${{ hashFiles('r.txt') }}", path=path))) == []


def test_pip_cache_dir_step_output_is_a_pip_cache() -> None:
    extra = '      - id: pip-cache\n        run: echo "dir=$(pip cache dir)" >> "$GITHUB_OUTPUT"\n'
    path = "${{ steps.pip-cache.outputs.dir }}"
    assert rule_ids(job(cache_step("pip-x", path=path), extra_steps=extra)) == ["WW001"]


@pytest.mark.parametrize("uses", ["actions/cache/restore@v4", "actions/cache/save@v4"])
def test_restore_and_save_sub_actions_are_checked(uses: str) -> None:
    assert rule_ids(job(cache_step("pip-x", uses=uses))) == ["WW001"]


def test_tox_cache_is_safe_for_alphas_because_tox_checks_the_version() -> None:
    assert rule_ids(job(cache_step("tox-x", path=".tox"))) == []


def test_a_pip_cache_listed_beside_a_pre_commit_cache_decides_the_hazard() -> None:
    path = "|\n            ~/.cache/pre-commit\n            ~/.cache/pip"
    assert rule_ids(job(cache_step("k-x", path=path))) == ["WW001"]


def test_pre_commit_cache_is_safe_for_alphas() -> None:
    assert rule_ids(job(cache_step("pc-x", path="~/.cache/pre-commit"))) == []


DEADSNAKES_NIGHTLY = """\
          - uses: deadsnakes/action@v3.2.0
            with:
              python-version: "3.16-dev"
"""


def test_deadsnakes_nightly_needs_python_vv_in_key() -> None:
    version_only = '      - id: v\n        run: echo "v=$(python -V)" >> "$GITHUB_OUTPUT"\n'
    full = '      - id: v\n        run: echo "v=$(python -VV)" >> "$GITHUB_OUTPUT"\n'
    key = "pip-${{ steps.v.outputs.v }}"
    flagged = job(cache_step(key), setup=DEADSNAKES_NIGHTLY, extra_steps=version_only)
    assert rule_ids(flagged) == ["WW001"]
    safe = job(cache_step(key), setup=DEADSNAKES_NIGHTLY, extra_steps=full)
    assert rule_ids(safe) == []


def test_deadsnakes_nightly_also_breaks_tox_caches() -> None:
    assert rule_ids(job(cache_step("tox-x", path=".tox"), setup=DEADSNAKES_NIGHTLY)) == ["WW001"]


def test_deadsnakes_nightly_fix_keys_on_a_hash_of_python_vv() -> None:
    text = job(cache_step("pip-x"), setup=DEADSNAKES_NIGHTLY)
    (finding,) = check(text)
    assert finding.fix is not None
    assert fix_problems(text, finding) == []
    fixed = apply_edits(text, finding.fix.edits)
    assert "python -VV | sha256sum" in fixed
    assert "key: pip-x-${{ env.PYTHON_BUILD }}" in fixed


def test_uv_python_install_prerelease_is_detected() -> None:
    setup = "          - run: uv python install 3.16\n"
    assert rule_ids(job(cache_step("uv-x", path="~/.cache/uv"), setup=setup)) == ["WW001"]


def test_uv_python_install_of_a_final_minor_is_not_flagged() -> None:
    setup = "          - run: uv python install 3.15\n"
    assert rule_ids(job(cache_step("uv-x", path="~/.cache/uv"), setup=setup)) == []


def test_job_without_any_python_setup_is_not_flagged() -> None:
    assert rule_ids(job(cache_step("pip-x"), setup="")) == []


def test_finding_points_at_the_key_and_names_the_job_and_pythons() -> None:
    (finding,) = check(job(cache_step("pip-x")))
    assert (finding.job, finding.rule_name) == ("test", "prerelease-cache-key")
    assert (finding.span.line, finding.span.column) == (14, 16)
    assert finding.pythons == ("3.16 (pre-release builds until 3.16.0 final, expected 2027-10-05)",)
    assert "3.16" in finding.message


def test_step_if_skipping_the_cache_on_prereleases_is_respected() -> None:
    cache = cache_step("pip-x").replace(
        "      - uses: actions/cache@v5\n",
        "      - uses: actions/cache@v5\n        if: matrix.python != '3.16'\n",
    )
    text = job(cache, setup=SETUP_316.replace('"3.16"', "${{ matrix.python }}")).replace(
        "    steps:", "    strategy:\n      matrix:\n        python: ['3.14', '3.16']\n    steps:"
    )
    assert rule_ids(text) == []


@pytest.mark.parametrize(
    "token",
    [
        "${{ steps.py.outputs.python-path }}",
        "${{ env.Python_ROOT_DIR }}",
        "${{ env.Python3_ROOT_DIR }}",
    ],
)
def test_other_setup_python_outputs_under_the_versioned_directory_are_exact(token: str) -> None:
    assert rule_ids(job(cache_step(f"pip-{token}-${{{{ hashFiles('r.txt') }}}}"))) == []


def test_path_under_python_root_dir_is_protected_by_the_cache_version() -> None:
    path = "${{ env.Python_ROOT_DIR }}/lib/python3.16/site-packages"
    assert rule_ids(job(cache_step("k-${{ hashFiles('r.txt') }}", path=path))) == []


def test_hash_fix_reuses_an_existing_python_vv_step() -> None:
    writer = (
        "          - run: echo \"PY=$(python -VV | sha256sum | cut -d' ' -f1)\" >> $GITHUB_ENV\n"
    )
    text = job(cache_step("pip-x"), setup=DEADSNAKES_NIGHTLY + writer)
    (finding,) = check(text)
    assert finding.fix is not None
    assert [edit.replacement for edit in finding.fix.edits] == ["-${{ env.PY }}"]


def test_hash_fix_serves_two_caches_with_one_step() -> None:
    text = job(cache_step("pip-x") + cache_step("uv-x", path="~/.cache/uv"), DEADSNAKES_NIGHTLY)
    fixed, count = fix_all(text, as_of=TODAY)
    assert count == 2
    assert fixed.count("python -VV") == 1
    assert analyse(fixed, as_of=TODAY).findings == ()
