"""Mutated real workflows: the engine never raises, and every fix it offers still proves
itself (applied, the file parses, the finding is gone, nothing new appears)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import analyse, fix_problems

FILES = sorted((Path(__file__).resolve().parents[1].parent / "shared/corpus/files").glob("*.yml"))
pytestmark = pytest.mark.skipif(not FILES, reason="the shared corpus is not present")

# Values that turn a job towards a pre-release, or break it.
REPLACEMENTS = ["3.16-dev", "3.16", "pypy3.11-nightly", "3.15.0-rc.1", "${{ matrix.x }}", "", "["]

mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10_000)),
    st.tuples(st.just("duplicate"), st.integers(0, 10_000)),
    st.tuples(st.just("swap"), st.integers(0, 10_000)),
    st.tuples(st.just("version"), st.integers(0, 10_000), st.sampled_from(REPLACEMENTS)),
    st.tuples(st.just("insert"), st.integers(0, 100_000), st.text(max_size=8)),
    st.tuples(st.just("truncate"), st.integers(0, 100_000)),
)


def mutate(text: str, mutations: list[tuple[object, ...]]) -> str:
    for kind, where, *rest in mutations:
        assert isinstance(where, int)
        lines = text.split("\n")
        line = where % max(len(lines), 1)
        if kind == "delete":
            del lines[line]
        elif kind == "duplicate":
            lines.insert(line, lines[line])
        elif kind == "swap" and line + 1 < len(lines):
            lines[line], lines[line + 1] = lines[line + 1], lines[line]
        elif kind == "version":
            # Replace the first version-looking value on or after that line.
            for n in range(line, len(lines)):
                head, sep, value = lines[n].partition(": ")
                if sep and any(ch.isdigit() for ch in value[:6]):
                    lines[n] = f"{head}: {rest[0]}"
                    break
        text = "\n".join(lines)
        if kind == "insert":
            at = where % (len(text) + 1)
            text = text[:at] + str(rest[0]) + text[at:]
        elif kind == "truncate":
            text = text[: where % (len(text) + 1)]
    return text


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    file=st.sampled_from(FILES or [Path("missing")]),
    mutations=st.lists(mutation, min_size=1, max_size=4),
    as_of=st.dates(min_value=date(2020, 1, 1), max_value=date(2028, 1, 1)),
)
def test_mutated_corpus_files_never_raise_and_fixes_prove_themselves(
    file: Path, mutations: list[tuple[object, ...]], as_of: date
) -> None:
    text = mutate(file.read_text(encoding="utf-8"), mutations)
    analysis = analyse(text, as_of=as_of)
    for finding in analysis.findings:
        if finding.fix is not None:
            assert fix_problems(text, finding, as_of=as_of, before=analysis) == []
