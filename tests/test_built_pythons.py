"""CPythons built in the job (a checkout or download of CPython's source, ``pyenv install
3.X-dev``) and nightly installers (the deadsnakes nightly PPA): each run gets a new build
under one version number, so only a key derived from ``python -VV`` names it exactly,
whatever caches it (actions/cache, setup-uv)."""

from __future__ import annotations

from support import check, fix_problems, rule_ids

from bot.engine import apply_edits

PIP_CACHE = (
    "      - uses: actions/cache@v5\n"
    "        with:\n"
    "          path: ~/.cache/pip\n"
    "          key: pip-${{ runner.os }}-${{ hashFiles('requirements.txt') }}\n"
)


def job(steps: str) -> str:
    return "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n" + steps


CPYTHON_CHECKOUT = (
    "      - uses: actions/checkout@v5\n"
    "        with:\n"
    "          repository: python/cpython\n"
    "          path: cpython\n"
)
BUILD = "      - run: cd cpython && ./configure --prefix=$HOME/py && make -j4 && make install\n"


def test_a_cpython_checkout_built_in_the_job_is_a_new_build_each_run() -> None:
    (finding,) = check(job(CPYTHON_CHECKOUT + BUILD + PIP_CACHE))
    assert finding.rule_id == "WW001"
    assert "nightly" in finding.pythons[0]


def test_a_cpython_checkout_that_is_never_built_installs_no_python() -> None:
    assert rule_ids(job(CPYTHON_CHECKOUT + PIP_CACHE)) == []


def test_a_checkout_of_a_released_branch_builds_a_final_python() -> None:
    checkout = CPYTHON_CHECKOUT.replace("path: cpython\n", "path: cpython\n          ref: '3.14'\n")
    assert rule_ids(job(checkout + BUILD + PIP_CACHE)) == []


def test_a_checkout_of_an_unreleased_branch_is_a_prerelease_build() -> None:
    checkout = CPYTHON_CHECKOUT.replace("path: cpython\n", "path: cpython\n          ref: '3.16'\n")
    assert rule_ids(job(checkout + BUILD + PIP_CACHE)) == ["WW001"]


def test_cloning_and_building_cpython_in_one_step_is_a_new_build() -> None:
    clone = (
        "      - run: |\n"
        "          git clone --depth 1 https://github.com/python/cpython.git\n"
        "          cd cpython && ./configure && make -j4 && sudo make install\n"
    )
    assert rule_ids(job(clone + PIP_CACHE)) == ["WW001"]


def test_downloading_cpython_main_as_an_archive_and_building_it_is_a_new_build() -> None:
    download = (
        "      - run: curl -sL https://github.com/python/cpython/archive/refs/heads/main.tar.gz"
        " | tar xz\n"
        "      - run: cd cpython-main && ./configure && make\n"
    )
    assert rule_ids(job(download + PIP_CACHE)) == ["WW001"]


def test_a_python_org_prerelease_tarball_is_one_exact_build() -> None:
    download = (
        "      - run: |\n"
        "          wget https://www.python.org/ftp/python/3.16.0/Python-3.16.0a2.tgz\n"
        "          tar xzf Python-3.16.0a2.tgz && cd Python-3.16.0a2 && ./configure && make\n"
    )
    keyed = PIP_CACHE.replace("pip-${{ runner.os }}", "pip-3.16.0a2-${{ runner.os }}")
    assert rule_ids(job(download + PIP_CACHE)) == ["WW001"]
    assert rule_ids(job(download + keyed)) == []


def test_pyenv_install_of_a_dev_version_builds_the_branch_head() -> None:
    pyenv = "      - run: pyenv install 3.16-dev && pyenv global 3.16-dev\n"
    (finding,) = check(job(pyenv + PIP_CACHE))
    assert finding.rule_id == "WW001"
    assert "nightly" in finding.pythons[0]


def test_pyenv_dev_of_a_released_minor_is_not_a_prerelease() -> None:
    pyenv = "      - run: pyenv install 3.14-dev && pyenv global 3.14-dev\n"
    assert rule_ids(job(pyenv + PIP_CACHE)) == []


def test_pyenv_python_made_global_gets_a_python_vv_hash_key_fix() -> None:
    text = job("      - run: pyenv install 3.16-dev && pyenv global 3.16-dev\n" + PIP_CACHE)
    (finding,) = check(text)
    assert finding.fix is not None
    fixed = apply_edits(text, finding.fix.edits)
    assert "python -VV | sha256sum" in fixed
    assert "key: pip-${{ runner.os }}-${{ env.PYTHON_BUILD }}-" in fixed
    assert fix_problems(text, finding) == []


def test_no_fix_when_the_built_python_is_not_the_python_on_path() -> None:
    # python -VV would hash the runner's Python, not the one built in cpython/.
    (finding,) = check(job(CPYTHON_CHECKOUT + BUILD + PIP_CACHE))
    assert finding.fix is None


def test_a_python_vv_hash_exported_after_the_build_covers_it() -> None:
    hashed = '      - run: echo "PY=$($HOME/py/bin/python3 -VV | sha256sum)" >> $GITHUB_ENV\n'
    cache = PIP_CACHE.replace("pip-${{ runner.os }}", "pip-${{ env.PY }}")
    assert rule_ids(job(CPYTHON_CHECKOUT + BUILD + hashed + cache)) == []


def test_the_deadsnakes_nightly_ppa_is_a_nightly_installer() -> None:
    apt = (
        "      - run: |\n"
        "          sudo add-apt-repository -y ppa:deadsnakes/nightly\n"
        "          sudo apt-get install -y python3.16-dev python3.16-venv\n"
    )
    (finding,) = check(job(apt + PIP_CACHE))
    assert finding.rule_id == "WW001"
    assert finding.pythons == ("3.16-dev (nightly builds under one version number)",)


def test_setup_uv_after_a_built_python_keys_on_its_unchanging_version() -> None:
    setup_uv = "      - uses: astral-sh/setup-uv@v7\n"
    (finding,) = check(job(CPYTHON_CHECKOUT + BUILD + setup_uv))
    assert finding.rule_id == "WW006"
    assert "same for every build" in finding.message


def test_setup_uv_before_a_built_python_keys_on_another_interpreter() -> None:
    setup_uv = "      - uses: astral-sh/setup-uv@v7\n"
    (finding,) = check(job(setup_uv + CPYTHON_CHECKOUT + BUILD))
    assert finding.rule_id == "WW006"
    assert "runner's default Python" in finding.message


def test_a_python_built_after_a_cached_setup_python_shares_its_pip_cache() -> None:
    setup = (
        "      - uses: actions/setup-python@v6\n        with:\n"
        "          python-version: '3.14'\n          cache: pip\n"
    )
    (finding,) = check(job(setup + "      - run: pyenv install 3.16-dev\n"))
    assert finding.rule_id == "WW003"
    assert "installed later" in finding.message
