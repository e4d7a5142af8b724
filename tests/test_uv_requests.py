"""Pythons that uv selects from the command line or the environment (caching-facts §5.1)."""

from __future__ import annotations

from support import rule_ids

from bot.engine.interpreters import uv_python_requests

UV_CACHE = """\
      - uses: actions/cache@v5
        with:
          path: ~/.cache/uv
          key: uv-${{ runner.os }}-${{ hashFiles('uv.lock') }}
"""


def workflow(env: str, run: str) -> str:
    return (
        f"on: push\n{env}jobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        + UV_CACHE
        + f"      - run: {run}\n"
    )


def test_uv_python_install_and_python_flags_are_requests() -> None:
    script = "uv python install 3.16 3.14\nuv tool install --python 3.15 tox\nuvx -p=3.13 ruff"
    assert uv_python_requests(script) == ["3.16", "3.14", "3.15", "3.13"]


def test_python_flag_of_other_tools_is_not_a_uv_request() -> None:
    assert uv_python_requests("tox run --python 3.16\npipx run --python 3.16 x") == []


def test_uv_python_env_feeds_a_plain_uv_command() -> None:
    text = workflow('env:\n  UV_PYTHON: "3.16"\n', "uv sync && uv run pytest")
    assert rule_ids(text) == ["WW001"]


def test_uv_python_env_with_a_final_version_is_safe() -> None:
    text = workflow('env:\n  UV_PYTHON: "3.15"\n', "uv sync && uv run pytest")
    assert rule_ids(text) == []


def test_explicit_python_flag_wins_over_uv_python_env() -> None:
    text = workflow('env:\n  UV_PYTHON: "3.16"\n', "uv run --python 3.14 pytest")
    assert rule_ids(text) == []
