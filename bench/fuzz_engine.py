"""Coverage-guided fuzzing of the engine with atheris (libFuzzer), seeded with the corpus.

    pip install atheris
    python bench/fuzz_engine.py -max_total_time=300      # any libFuzzer flags

Each input is decoded as UTF-8 (undecodable bytes replaced) and analysed as of a date
taken from its first bytes. It fails (and libFuzzer saves the crashing input) when the
engine raises, or when an offered fix does not prove itself: applied, the file must parse,
the finding must be gone and no new finding may appear.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from bot.engine import ReleaseTable, analyse, apply_edits

RELEASES = ReleaseTable.shipped()
SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "files"


def identity(finding: object) -> tuple[str, str, str]:
    return (finding.rule_id, finding.job, finding.step_key)  # type: ignore[attr-defined]


def test_one_input(data: bytes) -> None:
    as_of = date(2020, 1, 1) + timedelta(days=int.from_bytes(data[:2] or b"\0", "big") % 3000)
    text = data[2:].decode("utf-8", "replace")
    analysis = analyse(text, as_of=as_of, releases=RELEASES)
    before = {identity(f) for f in analysis.findings}
    for finding in analysis.findings:
        if finding.fix is None:
            continue
        after = analyse(apply_edits(text, finding.fix.edits), as_of=as_of, releases=RELEASES)
        if after.error is not None:
            raise AssertionError(f"fix breaks the file: {after.error}")
        remaining = {identity(f) for f in after.findings}
        if identity(finding) in remaining or not remaining <= before:
            raise AssertionError(f"fix does not prove itself: {finding}")


def main() -> None:
    seeds = Path(tempfile.mkdtemp(prefix="wheelwatch-fuzz-"))
    for seed in SEEDS.glob("*.yml"):
        # Two leading bytes choose the date: 0x0400 is early 2023.
        (seeds / seed.name).write_bytes(b"\x04\x00" + seed.read_bytes())
    try:
        atheris.Setup([sys.argv[0], str(seeds), *sys.argv[1:]], test_one_input)
        atheris.Fuzz()
    finally:
        shutil.rmtree(seeds, ignore_errors=True)


if __name__ == "__main__":
    main()
