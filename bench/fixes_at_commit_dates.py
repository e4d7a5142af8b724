"""What proposing and proving fixes costs: the corpus analysed at each file's commit date.

    python bench/fixes_at_commit_dates.py [--passes N]

`bench/engine.py` judges the corpus as of today, when it holds only a few findings, so it
barely runs the fix code. Here every file is judged at its commit date, as its label is, so
the fixes of the 28 unsafe files that get them are proposed and proven. It prints the median
CPU time (not wall time: the machine is shared) of a pass over the 60 files, after one
untimed pass. To compare with another commit, run this script against that commit's tree:

    git archive <commit> | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base:$(python -c 'import site; print(site.getsitepackages()[0])') \\
        python -S bench/fixes_at_commit_dates.py

(``-S`` keeps the editable install of this checkout off the path; alternate the two a few
times, as their spread under load is wider than the difference.) A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date
from pathlib import Path

import bot
from bot.engine import analyse
from bot.engine.versions import ReleaseTable

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passes", type=int, default=5, help="timed passes (default 5)")
    passes = parser.parse_args().passes
    labels = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))
    files = [
        (
            (CORPUS / "files" / f"{entry['id']}.yml").read_text(encoding="utf-8"),
            date.fromisoformat(entry["commit_date"]),
        )
        for entry in labels
    ]
    releases = ReleaseTable.shipped()
    fixes = sum(  # an untimed pass
        1 for t, d in files for f in analyse(t, as_of=d, releases=releases).findings if f.fix
    )
    times = []
    for _ in range(passes):
        start = time.process_time()
        for text, as_of in files:
            analyse(text, as_of=as_of, releases=releases)
        times.append(time.process_time() - start)
    engine = Path(bot.__file__).parents[1]
    print(
        f"{engine}: {statistics.median(times) * 1000:.0f} ms CPU per pass over {len(files)} "
        f"files at their commit dates ({fixes} fixes offered; passes "
        f"{', '.join(f'{t * 1000:.0f}' for t in times)} ms)"
    )


if __name__ == "__main__":
    main()
