"""Engine / CLI benchmark: wheelwatch against zizmor on the shared corpus, in the same run.

    python bench/engine.py [--runs N] [--json]

Figures (medians over N runs; runs of the two tools are interleaved so both see the same noise):
  a. in-process throughput of bot.engine.analyse, files/second (the first pass, which pays for
     lazy tables and caches, is shown apart; the median is over the passes after it);
  b. cold CLI wall time of `wheelwatch check --format json <corpus files>` (a fresh process);
  c. peak RSS of that process (ru_maxrss from wait4, so per child, not a running maximum);
  d. the same wall time and RSS for `zizmor --offline --format json <same files>`, the baseline;
  e. floors: `python -c "import ruamel.yaml"` and `wheelwatch --version` (interpreter, imports
     and argument parser: the CLI's start-up) wall time.
This is a benchmark, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "files"

if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))


def corpus_files() -> list[Path]:
    files = sorted(CORPUS.glob("*.yml"))
    if not files:
        sys.exit(f"bench: no corpus files under {CORPUS}")
    return files


def wheelwatch_command() -> list[str]:
    script = Path(sys.executable).with_name("wheelwatch")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bot"]


def zizmor_command() -> list[str] | None:
    for candidate in (Path(sys.executable).with_name("zizmor"), shutil.which("zizmor")):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    return None


# A child's ru_maxrss on Linux starts at its parent's RSS when it forks (the high-water mark
# survives exec), so each command is started by this tiny launcher (python -S -I, ~5 MiB)
# rather than by the benchmark process, whose RSS grows. The launcher times the child too.
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_child(argv: Sequence[str]) -> tuple[float, int, int]:
    """Run argv with output discarded; return (wall seconds, peak RSS in KiB, exit code)."""
    executable = shutil.which(argv[0]) or argv[0]
    out = subprocess.run(
        [sys.executable, "-S", "-I", "-c", _LAUNCHER, executable, *argv[1:]],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    wall, peak, code = out.stdout.split()
    return float(wall), int(peak), int(code)


def analyse_pass(files: list[Path]) -> Callable[[], float]:
    """A function that runs bot.engine.analyse over the corpus once and returns files/second."""
    from bot.engine import Config, ReleaseTable, analyse

    texts = [path.read_text(encoding="utf-8") for path in files]
    config, today, releases = Config(), date.today(), ReleaseTable.shipped()

    def one_pass() -> float:
        start = time.perf_counter()
        for text in texts:
            analyse(text, config=config, as_of=today, releases=releases)
        return len(texts) / (time.perf_counter() - start)

    return one_pass


def check_outputs(ww: list[str], zz: list[str] | None, files: list[str]) -> dict[str, object]:
    """One untimed run of each tool to show they did real work (finding counts)."""
    info: dict[str, object] = {}
    out = subprocess.run(
        [*ww, "check", "--format", "json", *files], capture_output=True, text=True, cwd=REPO
    )
    try:
        report = json.loads(out.stdout)
        info["wheelwatch"] = (
            f"exit {out.returncode}, {len(report['findings'])} findings, "
            f"{len(report['errors'])} file errors"
        )
    except (ValueError, KeyError):
        info["wheelwatch"] = f"exit {out.returncode}, unreadable output: {out.stderr[-300:]!r}"
    if zz is not None:
        out = subprocess.run(
            [*zz, "--offline", "--format", "json", *files],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        try:
            info["zizmor"] = f"exit {out.returncode}, {len(json.loads(out.stdout))} findings"
        except ValueError:
            info["zizmor"] = f"exit {out.returncode}, unreadable output"
    return info


def median_runs(
    argvs: dict[str, list[str]], in_process: Callable[[], float], runs: int
) -> tuple[dict[str, tuple[float, int]], float, float]:
    """Interleave the commands and an in-process pass, run by run, so that all figures share
    the machine's noise. Return median (wall, peak RSS KiB) per name, and the median and
    first-pass in-process files/second."""
    walls: dict[str, list[float]] = {name: [] for name in argvs}
    rss: dict[str, list[int]] = {name: [] for name in argvs}
    for argv in argvs.values():  # one untimed run each: page cache, pyc files
        run_child(argv)
    first = in_process()  # also the warm-up of the in-process figure
    rates = []
    for _ in range(runs):
        for name, argv in argvs.items():
            wall, peak, _code = run_child(argv)
            walls[name].append(wall)
            rss[name].append(peak)
        rates.append(in_process())
    medians = {
        name: (statistics.median(walls[name]), int(statistics.median(rss[name]))) for name in argvs
    }
    return medians, statistics.median(rates), first


def table(rows: list[tuple[str, str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (default 7)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)

    files = corpus_files()
    names = [str(path) for path in files]
    # An installed package runs from bytecode that pip compiled; an editable checkout has none
    # when PYTHONDONTWRITEBYTECODE is set (it is, on this project's machines), and would pay
    # for compiling every module at every start.
    compileall.compile_dir(str(REPO / "bot"), quiet=1)
    ww, zz = wheelwatch_command(), zizmor_command()
    print(
        f"corpus: {len(files)} files in {CORPUS}; {args.runs} runs per figure; "
        f"Python {platform.python_version()}; {os.cpu_count()} CPUs"
    )
    if zz is None:
        print(
            "bench: zizmor not found (pip install -r bench/requirements.txt); "
            "the baseline and the ratios are left out."
        )
    for tool, summary in check_outputs(ww, zz, names).items():
        print(f"{tool}: {summary}")

    commands = {
        "wheelwatch": [*ww, "check", "--format", "json", *names],
        "floor_ruamel": [sys.executable, "-c", "import ruamel.yaml"],
        "floor_cli_start": [*ww, "--version"],
        "rss_floor": ["/bin/true"],
    }
    if zz is not None:
        commands["zizmor"] = [*zz, "--offline", "--format", "json", *names]
    measured, rate, first_rate = median_runs(commands, analyse_pass(files), args.runs)

    base_wall, base_rss = measured.get("zizmor", (None, None))

    def ratio(value: float, base: float | None) -> str:
        return f"{value / base:.2f}x" if base else "n/a"

    ms: Callable[[float], str] = lambda seconds: f"{seconds * 1000:.0f} ms"  # noqa: E731
    mib: Callable[[int], str] = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
    ww_wall, ww_rss = measured["wheelwatch"]
    zz_rate = len(files) / base_wall if base_wall else None
    rows = [
        ("figure", "wheelwatch", "zizmor --offline", "ratio to zizmor"),
        ("(b) cold CLI wall, median", ms(ww_wall), ms(base_wall) if base_wall else "n/a",
         ratio(ww_wall, base_wall)),
        ("(c) peak RSS of the CLI", mib(ww_rss), mib(base_rss) if base_rss else "n/a",
         ratio(ww_rss, base_rss)),
        ("(a) files/s in-process, median", f"{rate:.0f}", "", ""),
        ("    files/s, first pass", f"{first_rate:.0f}", "", ""),
        ("    files/s incl. start-up (cold CLI)", f"{len(files) / ww_wall:.0f}",
         f"{zz_rate:.0f}" if zz_rate else "n/a",
         ratio(len(files) / ww_wall, zz_rate)),
        ("(e) floor: python -c 'import ruamel.yaml'", ms(measured["floor_ruamel"][0]), "",
         ratio(measured["floor_ruamel"][0], base_wall)),
        ("    wheelwatch --version (start-up)", ms(measured["floor_cli_start"][0]), "",
         ratio(measured["floor_cli_start"][0], base_wall)),
    ]  # fmt: skip
    print()
    print(table(rows))
    print(
        f"\nwheelwatch CLI time above its start-up: "
        f"{ms(ww_wall - measured['floor_cli_start'][0])}; "
        f"in-process analysis alone: {ms(len(files) / rate)}; "
        f"RSS floor of the launcher (/bin/true): {mib(measured['rss_floor'][1])}"
    )
    if args.json:
        figures = {
            "files": len(files),
            "runs": args.runs,
            "in_process_files_per_s": rate,
            "in_process_first_pass_files_per_s": first_rate,
            **{f"{name}_wall_s": wall for name, (wall, _rss) in measured.items()},
            **{f"{name}_peak_rss_kib": rss for name, (_wall, rss) in measured.items()},
        }
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
