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
from minimal_change import changes_beyond_the_fix
from support import analyse, fix_all, fix_problems

from bot.engine import Analysis, apply_edits

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


UNSAFE = [entry for entry in LABELS if entry.unsafe_jobs]
# The files in both line-ending conventions: a fix must keep the file's own.
ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


@needs_corpus
@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("labelled", UNSAFE, ids=[f"{entry.id}-{entry.repo}" for entry in UNSAFE])
def test_fix_all_changes_only_what_must_change(labelled: Labelled, ending: str) -> None:
    text = labelled.text.replace("\n", ENDINGS[ending])
    fixed, _ = fix_all(text, as_of=labelled.as_of)
    assert changes_beyond_the_fix(text, fixed) == []


@needs_corpus
@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("labelled", UNSAFE, ids=[f"{entry.id}-{entry.repo}" for entry in UNSAFE])
def test_each_offered_fix_changes_only_what_must_change(labelled: Labelled, ending: str) -> None:
    text = labelled.text.replace("\n", ENDINGS[ending])
    problems = {
        f"{finding.rule_id} line {finding.span.line}": changes_beyond_the_fix(
            text, apply_edits(text, finding.fix.edits)
        )
        for finding in analyse(text, as_of=labelled.as_of).findings
        if finding.fix is not None
    }
    assert {where: found for where, found in problems.items() if found} == {}


@needs_corpus
def test_fix_all_fixes_every_unsafe_file_but_two() -> None:
    # 001's setup-uv v3 and 047's setup-python v2.3.0 (whose Python 3.11-dev deadsnakes
    # also installs) have no edit that re-analysis can prove.
    unfixed = {entry.id for entry in UNSAFE if fix_all(entry.text, as_of=entry.as_of)[1] == 0}
    assert unfixed == {"001", "047"}


@needs_corpus
def test_every_corpus_finding_without_a_fix_says_why() -> None:
    unexplained = [
        f"{entry.id} {finding.rule_id} line {finding.span.line}"
        for entry in LABELS
        for finding in _analysis(entry.id).findings
        if finding.fix is None and not finding.no_fix_reason
    ]
    assert unexplained == []
