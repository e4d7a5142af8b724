"""Time the engine on generated workflows at its limits: one command, prints figures.

    python bench/worst_case.py

Each workflow has one job with an N-row matrix (one pre-release row), a setup-python step and
many cache steps whose keys use the requested version, padded with run steps. They sit at or
near ``MAX_WORK`` (matrix rows x simulated steps), so they show the slowest a file can be.
"""

from __future__ import annotations

import time
from datetime import date

from bot.engine import ReleaseTable, analyse

AS_OF = date(2026, 11, 25)
RELEASES = ReleaseTable.shipped()


def workflow(rows: int, caches: int, size: int) -> str:
    versions = [f'"3.{8 + i // 20}.{i % 20}"' for i in range(rows - 1)] + ['"3.16-dev"']
    head = (
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n"
        f"        py: [{', '.join(versions)}]\n    steps:\n"
        "      - uses: actions/setup-python@v6\n        with:\n"
        "          python-version: ${{ matrix.py }}\n"
    )
    cache = (
        "      - uses: actions/cache@v5\n"
        "        if: matrix.py != 'none' && startsWith(matrix.py, '3')\n"
        "        with:\n          path: ~/.cache/pip\n"
        "          key: k-${{ matrix.py }}-${{ hashFiles('x') }}\n"
        "          restore-keys: |\n            k-${{ matrix.py }}-\n"
    )
    text = head + cache * caches
    filler = "      - run: echo hello world && echo ${{ matrix.py }}\n"
    return text + filler * max(0, (size - len(text)) // len(filler))


def main() -> None:
    print(f"{'rows':>5} {'caches':>6} {'KiB':>5} {'findings':>8} {'fixes':>5} {'seconds':>8}")
    for rows, caches, size in [
        (8, 100, 30 * 1024),
        (50, 600, 200 * 1024),
        (256, 385, 300 * 1024),
        (100, 990, 1000 * 1024),
        (50, 1990, 1000 * 1024),
    ]:
        text = workflow(rows, caches, size)
        start = time.perf_counter()
        analysis = analyse(text, as_of=AS_OF, releases=RELEASES)
        elapsed = time.perf_counter() - start
        fixes = sum(1 for f in analysis.findings if f.fix)
        note = f"  error: {analysis.error.message}" if analysis.error else ""
        print(
            f"{rows:>5} {caches:>6} {len(text) // 1024:>5} {len(analysis.findings):>8} "
            f"{fixes:>5} {elapsed:>8.2f}{note}"
        )


if __name__ == "__main__":
    main()
