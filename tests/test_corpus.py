"""The engine against the labelled real-world corpus in ``../shared/corpus``.

Each file is judged as of its commit date, as its label is. The corpus is data kept beside
the repository, never copied into it; without it these tests skip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from support import fix_problems

from bot.engine import Analysis, analyse

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus"
MINIMUM = 0.97


@dataclass(frozen=True)
class Labelled:
    id: str
    repo: str
    as_of: date
    unsafe_jobs: frozenset[str]
    uncertain: bool
    notes: str

    @property
    def path(self) -> Path:
        return CORPUS / "files" / f"{self.id}.yml"

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


def _labels() -> list[Labelled]:
    if not SHARED.is_dir():
        return []
    entries = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))
    return [
        Labelled(
            id=entry["id"],
            repo=entry["repo"],
            as_of=date.fromisoformat(entry["commit_date"]),
            unsafe_jobs=frozenset(finding["job"] for finding in entry["findings"]),
            uncertain=entry["uncertain"],
            notes=entry.get("notes", ""),
        )
        for entry in entries
    ]


LABELS = _labels()
needs_corpus = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the shared corpus is not present at {SHARED}"
)


@cache
def _analysis(file_id: str) -> Analysis:
    labelled = next(entry for entry in LABELS if entry.id == file_id)
    return analyse(labelled.text, as_of=labelled.as_of)


def _flagged_jobs(labelled: Labelled) -> set[str]:
    analysis = _analysis(labelled.id)
    assert analysis.error is None, analysis.error
    return {finding.job for finding in analysis.findings}


@needs_corpus
def test_corpus_has_every_labelled_file() -> None:
    assert len(LABELS) == 60
    assert all(entry.path.is_file() for entry in LABELS)


@needs_corpus
@pytest.mark.parametrize("labelled", LABELS, ids=[f"{entry.id}-{entry.repo}" for entry in LABELS])
def test_flagged_jobs_match_the_label(labelled: Labelled) -> None:
    assert _flagged_jobs(labelled) == set(labelled.unsafe_jobs), labelled.notes


@needs_corpus
def test_job_level_precision_and_recall_reach_the_target() -> None:
    true_positives = false_positives = false_negatives = 0
    for labelled in LABELS:
        flagged = _flagged_jobs(labelled)
        true_positives += len(flagged & labelled.unsafe_jobs)
        false_positives += len(flagged - labelled.unsafe_jobs)
        false_negatives += len(labelled.unsafe_jobs - flagged)
    precision = true_positives / ((true_positives + false_positives) or 1)
    recall = true_positives / ((true_positives + false_negatives) or 1)
    assert true_positives > 0
    assert precision >= MINIMUM, f"precision {precision:.3f}"
    assert recall >= MINIMUM, f"recall {recall:.3f}"


@needs_corpus
def test_corpus_offers_fixes() -> None:
    offered = [f for entry in LABELS for f in _analysis(entry.id).findings if f.fix]
    assert len(offered) >= 10


@needs_corpus
def test_every_offered_fix_applied_leaves_a_clean_file() -> None:
    problems: dict[str, list[str]] = {}
    for labelled in LABELS:
        analysis = _analysis(labelled.id)
        for finding in analysis.findings:
            if finding.fix is None:
                continue
            found = fix_problems(labelled.text, finding, as_of=labelled.as_of, before=analysis)
            if found:
                problems[f"{labelled.id} {finding.rule_id} line {finding.span.line}"] = found
    assert problems == {}
