"""Pythons that uv fetches after astral-sh/setup-uv has computed its cache key.

setup-uv (v5+) keys its cache on the interpreter ``uv python find`` sees when the action
runs, which neither reads ``UV_PYTHON`` nor downloads anything (caching-facts §5.1); a
pre-release that ``uv run`` / ``uv sync`` / ``uv venv`` downloads later fills the cache under
a key that names another interpreter (or ``unknown``).
"""

from __future__ import annotations

from support import analyse, check, fix_problems, rule_ids

from bot.engine import apply_edits

SETUP_UV = "      - uses: astral-sh/setup-uv@v7\n"
SETUP_PYTHON_316 = (
    "      - uses: actions/setup-python@v6\n"
    "        with:\n"
    "          python-version: '3.16'\n"
    "          allow-prereleases: true\n"
)


def job(steps: str, *, workflow_env: str = "", job_env: str = "") -> str:
    return (
        f"on: push\n{workflow_env}jobs:\n  test:\n    runs-on: ubuntu-latest\n"
        f"{job_env}    steps:\n      - uses: actions/checkout@v5\n{steps}"
    )


def test_uv_python_in_workflow_env_is_downloaded_after_setup_uv_keyed() -> None:
    text = job(SETUP_UV + "      - run: uv sync\n", workflow_env="env:\n  UV_PYTHON: '3.16'\n")
    (finding,) = check(text)
    assert finding.rule_id == "WW006"
    assert "3.16" in finding.pythons[0]


def test_uv_python_in_job_env_is_downloaded_after_setup_uv_keyed() -> None:
    env = "    env:\n      UV_PYTHON: 3.16\n"
    text = job(SETUP_UV + "      - run: uv run pytest\n", job_env=env)
    assert rule_ids(text) == ["WW006"]


def test_uv_python_in_the_step_env_of_a_later_uv_command_is_flagged() -> None:
    steps = SETUP_UV + "      - run: uv venv\n        env:\n          UV_PYTHON: 3.16-dev\n"
    assert rule_ids(job(steps)) == ["WW006"]


def test_uv_python_with_a_final_version_is_safe() -> None:
    text = job(SETUP_UV + "      - run: uv sync\n", workflow_env="env:\n  UV_PYTHON: '3.15'\n")
    assert rule_ids(text) == []


def test_uv_python_satisfied_by_the_setup_python_step_before_setup_uv_is_safe() -> None:
    # uv downloads nothing when an installed interpreter matches: it runs setup-python's
    # 3.16 alpha, the one setup-uv found and keyed on.
    text = job(
        SETUP_PYTHON_316 + SETUP_UV + "      - run: uv sync\n",
        workflow_env="env:\n  UV_PYTHON: '3.16'\n",
    )
    assert rule_ids(text) == []


def test_uv_python_naming_another_minor_than_setup_python_is_flagged() -> None:
    setup_314 = SETUP_PYTHON_316.replace("'3.16'", "'3.14'")
    text = job(
        setup_314 + SETUP_UV + "      - run: uv sync\n",
        workflow_env="env:\n  UV_PYTHON: '3.16'\n",
    )
    assert rule_ids(text) == ["WW006"]


def test_python_version_file_written_by_the_workflow_is_a_request() -> None:
    steps = SETUP_UV + "      - run: echo 3.16-dev > .python-version\n      - run: uv sync\n"
    assert rule_ids(job(steps)) == ["WW006"]


def test_uv_python_pin_is_a_request_for_later_uv_commands() -> None:
    steps = SETUP_UV + "      - run: |\n          uv python pin 3.16\n          uv run pytest\n"
    assert rule_ids(job(steps)) == ["WW006"]


def test_python_version_file_the_workflow_does_not_write_is_unknown() -> None:
    # The engine cannot read the repository's .python-version: no verdict either way.
    assert rule_ids(job(SETUP_UV + "      - run: uv sync\n")) == []


def test_uv_python_env_wins_over_a_written_python_version_file() -> None:
    steps = SETUP_UV + "      - run: echo 3.16 > .python-version\n      - run: uv sync\n"
    text = job(steps, workflow_env="env:\n  UV_PYTHON: '3.14'\n")
    assert rule_ids(text) == []


def test_exact_prerelease_from_uv_gets_setup_uv_python_version_as_fix() -> None:
    text = job(SETUP_UV + "      - run: uv sync\n", workflow_env="env:\n  UV_PYTHON: 3.16.0a2\n")
    (finding,) = check(text)
    assert finding.rule_id == "WW006"
    assert finding.fix is not None
    assert "python-version" in finding.fix.description
    fixed = apply_edits(text, finding.fix.edits)
    added = "        with:\n          python-version: 3.16.0a2\n"
    assert "      - uses: astral-sh/setup-uv@v7\n" + added in fixed
    assert fix_problems(text, finding) == []


def test_setup_uv_python_version_fix_joins_an_existing_with_block() -> None:
    steps = (
        "      - uses: astral-sh/setup-uv@v7\n        with:\n          enable-cache: true\n"
        "      - run: uv python install 3.16.0a2\n"
    )
    (finding,) = check(job(steps))
    assert finding.fix is not None
    fixed = apply_edits(job(steps), finding.fix.edits)
    assert "          enable-cache: true\n          python-version: 3.16.0a2\n" in fixed
    assert analyse(fixed).findings == ()


def test_no_fix_for_a_moving_prerelease_that_uv_downloads() -> None:
    # setup-uv's python-version would go verbatim into the key ("3.16"), WW004's hazard.
    text = job(SETUP_UV + "      - run: uv sync\n", workflow_env="env:\n  UV_PYTHON: '3.16'\n")
    (finding,) = check(text)
    assert finding.fix is None


def test_setup_uv_python_version_fix_keeps_a_trailing_comment_on_its_line() -> None:
    steps = "      - uses: astral-sh/setup-uv@0123456789abcdef0123456789abcdef01234567  # v7.1.0\n"
    text = job(steps + "      - run: uv sync\n", workflow_env="env:\n  UV_PYTHON: 3.16.0a2\n")
    (finding,) = check(text)
    assert finding.fix is not None
    fixed = apply_edits(text, finding.fix.edits)
    assert "01234567  # v7.1.0\n        with:\n          python-version: 3.16.0a2\n" in fixed


def test_a_setup_python_that_resolves_nothing_before_setup_uv_keys_the_runner_python() -> None:
    # setup-python fails on a bare pre-release minor without allow-prereleases: no Python.
    setup = SETUP_PYTHON_316.replace("          allow-prereleases: true\n", "")
    text = job(setup + SETUP_UV + "      - run: uv python install 3.16\n")
    assert rule_ids(text) == ["WW006"]
