"""Jobs that run in an official ``python:`` container get its Python (caching-facts §3.2
has no entry for images; the Docker tags name pre-releases as ``3.16-rc`` or ``3.16.0a2``)."""

from __future__ import annotations

import pytest
from support import rule_ids

from bot.engine.versions import python_image_tag


def container_job(image: str, key: str = "pip-${{ hashFiles('r.txt') }}") -> str:
    return (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        f"    container:\n      image: {image}\n    steps:\n"
        "      - uses: actions/cache@v5\n        with:\n          path: ~/.cache/pip\n"
        f"          key: {key}\n"
        "      - run: pip install -r r.txt\n"
    )


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("python:3.16-rc-slim-bookworm", "3.16-rc"),
        ("docker.io/library/python:3.16.0a2", "3.16.0a2"),
        ("python:3.14@sha256:abc", "3.14"),
        ("ubuntu:24.04", None),
        ("ghcr.io/example/python:3.16-rc", None),
    ],
)
def test_python_image_tag(image: str, tag: str | None) -> None:
    assert python_image_tag(image) == tag


def test_rc_image_of_an_unreleased_minor_shares_an_unversioned_cache() -> None:
    assert rule_ids(container_job("python:3.16-rc")) == ["WW001"]


def test_rc_image_of_a_released_minor_is_stable() -> None:
    assert rule_ids(container_job("python:3.15-rc")) == []


def test_exact_prerelease_image_in_the_key_is_safe() -> None:
    image = "python:3.16.0a2-slim"
    assert rule_ids(container_job(image, key="pip-3.16.0a2-${{ hashFiles('r.txt') }}")) == []


def test_container_image_from_the_matrix_is_resolved_per_row() -> None:
    text = container_job("python:${{ matrix.py }}").replace(
        "    runs-on: ubuntu-latest\n",
        "    runs-on: ubuntu-latest\n"
        "    strategy:\n      matrix:\n        py: ['3.14', '3.16-rc']\n",
    )
    assert rule_ids(text) == ["WW001"]


def test_container_as_a_plain_string_is_read() -> None:
    text = container_job("x").replace(
        "    container:\n      image: x\n", "    container: python:3.16-rc\n"
    )
    assert rule_ids(text) == ["WW001"]
