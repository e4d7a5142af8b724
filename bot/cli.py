"""``wheelwatch check``: run the engine over local files (and ``serve``/``replay`` for the App)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from bot import __version__
from bot.checkout import discover, relative_to_root, repository_root
from bot.engine import (
    RULES,
    ReleaseTable,
    analyse,
    fix_all,
)
from bot.engine.calls import Inputs, local_calls
from bot.engine.document import MAX_BYTES
from bot.engine.names import rule_hint, rule_named
from bot.render import FileReport
from bot.render.github import render_github
from bot.render.json import render_json
from bot.render.sarif import render_sarif
from bot.render.text import render_text
from bot.settings import CONFIG_PATH, ConfigError, RepoSettings, parse_settings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
_RENDERERS = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
}


class UsageError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # ``check`` should not pay for importing the App's commands at start-up; any other
    # command line (help, a typo) needs them listed.
    parser = _parser(with_app=not argv or argv[0] not in ("check", "rule", "--version"))
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"wheelwatch: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


def _parser(*, with_app: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelwatch",
        description="Find GitHub Actions caches that reuse Python wheels across pre-release "
        "ABI changes.",
    )
    parser.add_argument("--version", action="version", version=f"wheelwatch {__version__}")
    commands = parser.add_subparsers(title="commands")
    check = commands.add_parser(
        "check",
        help="check workflow files",
        description="Check workflow and composite-action files. Exit status: 0 no findings, "
        "1 findings, 2 usage or I/O errors.",
    )
    check.add_argument(
        "paths",
        nargs="*",
        help="files, checked as given, or directories, searched for workflows "
        "(.github/workflows/*.yml) and action files (action.yml) (default: .)",
    )
    check.add_argument(
        "--format",
        choices=sorted(_RENDERERS),
        default="text",
        help="output format: text for people (coloured on a terminal unless NO_COLOR is set; "
        "FORCE_COLOR forces it), json, sarif for code scanning, github for annotations in "
        "Actions (default: %(default)s)",
    )
    check.add_argument(
        "--as-of",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="judge the workflow as of this date: which Python versions were released and "
        "where floating action tags pointed (default: today)",
    )
    check.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"configuration file (default: {CONFIG_PATH} if present)",
    )
    mode = check.add_mutually_exclusive_group()
    mode.add_argument("--diff", action="store_true", help="print the fixes as a unified diff")
    mode.add_argument("--fix", action="store_true", help="apply the fixes in place")
    check.set_defaults(func=_check)
    rule = commands.add_parser(
        "rule",
        help="list the rules, or explain one",
        description="Without an argument, list the rules; with a rule's id or name, print its "
        "documentation.",
    )
    rule.add_argument("rule", nargs="?", metavar="ID|NAME", help="e.g. WW001 or its name")
    rule.set_defaults(func=_rule)
    if with_app:
        _register_app_commands(commands)
    return parser


def _register_app_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        from bot.app import commands as app_commands
    except ImportError:  # the App is optional for the CLI
        return
    app_commands.register(commands)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _load_config(path: Path | None, root: Path) -> RepoSettings:
    explicit = path is not None
    path = path or root / CONFIG_PATH
    # Name the file as the user would type it from here.
    shown = str(path) if explicit else os.path.relpath(path)
    if not path.is_file():
        if explicit:
            raise UsageError(f"configuration file not found: {shown}")
        return RepoSettings()
    try:
        return parse_settings(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {shown}: {exc}") from None
    except ConfigError as exc:
        raise UsageError(exc.located(shown)) from None


def _read(path: str) -> tuple[str | None, str | None]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return None, f"cannot read file: {exc.strerror or exc}"
    if len(data) > MAX_BYTES:
        return None, f"file is larger than {MAX_BYTES // 1024} KiB"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"file is not valid UTF-8 (byte {exc.start})"


def _check(args: argparse.Namespace) -> int:
    if args.diff and args.format in ("json", "sarif"):
        # A diff after the document would make it unparseable; the document holds the
        # fixes' edits already.
        raise UsageError(f"--diff cannot be combined with --format {args.format}")
    root = repository_root(Path.cwd())
    config = _load_config(args.config, root)
    # The engine reads no clock and no file: the day and the release table come from here.
    as_of = args.as_of or date.today()
    releases = ReleaseTable.shipped()
    entries: list[FileReport | tuple[str, str]] = []
    for path, problem in discover(args.paths):
        if problem is not None:
            entries.append(FileReport(path, read_error=problem))
            continue
        if config.ignores_path(relative_to_root(path, root) or path):
            continue
        text, problem = _read(path)
        entries.append(FileReport(path, read_error=problem) if text is None else (path, text))
    files = [entry for entry in entries if isinstance(entry, tuple)]
    inputs = _caller_inputs(files)
    reports: list[FileReport] = []
    diffs: list[str] = []
    fixed_files = fixed = 0
    for entry in entries:
        if isinstance(entry, FileReport):
            reports.append(entry)
            continue
        path, text = entry
        given = inputs.get(Path(path).resolve(), [])
        if args.fix or args.diff:
            try:
                new_text, count = fix_all(
                    text, as_of=as_of, releases=releases, config=config.engine, inputs=given
                )
            except Exception:  # reported as an error by the analysis below
                new_text, count = text, 0
            if new_text != text:
                if args.diff:
                    diffs.append(_unified(path, text, new_text))
                else:
                    try:
                        with open(path, "w", encoding="utf-8", newline="") as handle:
                            handle.write(new_text)
                    except OSError as exc:
                        reports.append(FileReport(path, read_error=f"cannot write: {exc}"))
                        continue
                    fixed, fixed_files, text = fixed + count, fixed_files + 1, new_text
        try:
            analysis = analyse(
                text, as_of=as_of, releases=releases, config=config.engine, inputs=given
            )
        except Exception as exc:  # a bug must cost one file, not the whole run
            reports.append(FileReport(path, read_error=f"internal error, please report: {exc!r}"))
            continue
        reports.append(FileReport(path, analysis))
    if args.format == "sarif":
        output = render_sarif(reports, root=root)
    elif args.format == "text":
        output = render_text(reports, colour=_colour(os.environ))
    else:
        output = _RENDERERS[args.format](reports)
    sys.stdout.write(output)
    if diffs:
        sys.stdout.write("\n" + "".join(diffs))
    if args.fix and fixed:
        plural = "s" if fixed != 1 else ""
        print(f"Fixed {fixed} finding{plural} in {fixed_files} file(s).", file=sys.stderr)
    if any(report.error for report in reports):
        return EXIT_ERROR
    return EXIT_FINDINGS if any(report.findings for report in reports) else EXIT_CLEAN


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _colour(environ: Mapping[str, str]) -> bool:
    """Colour on a terminal; NO_COLOR (no-color.org) turns it off, FORCE_COLOR on, in that
    order of precedence, as CPython's own colouring does."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return environ.get("TERM") != "dumb" and _stdout_is_terminal()


def _rule(args: argparse.Namespace) -> int:
    import textwrap  # only this command needs it

    if args.rule is None:
        width = max(len(rule.name) for rule in RULES)
        for rule in RULES:
            print(f"{rule.id}  {rule.name:<{width}}  {rule.summary}")
        return EXIT_CLEAN
    found = rule_named(args.rule)
    if found is None:
        raise UsageError(f"unknown rule {args.rule!r}{rule_hint(args.rule)}")
    sys.stdout.write(
        f"{found.id} {found.name}\n\n{found.summary}.\n\n{textwrap.fill(found.explanation, 88)}"
        f"\n\n{found.snippets}\n\nMore: {found.docs_url}\n"
    )
    return EXIT_CLEAN


def _caller_inputs(files: list[tuple[str, str]]) -> dict[Path, list[Inputs]]:
    """What the checked files pass to the local reusable workflows and composite actions they
    call, by the called file's resolved path: a called file is analysed with those inputs."""
    found: dict[Path, list[Inputs]] = {}
    for path, text in files:
        calls = local_calls(text)
        if not calls:
            continue
        root = _repository_root(Path(path).resolve())
        for call in calls:
            target = (root / call.path).resolve()
            if target.is_dir():
                target = next(
                    (target / n for n in ("action.yml", "action.yaml") if (target / n).is_file()),
                    target,
                )
            known = found.setdefault(target, [])
            known.extend(inputs for inputs in call.inputs if inputs not in known)
    return found


def _repository_root(path: Path) -> Path:
    for parent in path.parents:
        if (parent / ".git").exists() or (parent / ".github").is_dir():
            return parent
    return Path.cwd()


def _unified(path: str, before: str, after: str) -> str:
    import difflib  # only --diff needs it

    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path.lstrip('/')}",
        tofile=f"b/{path.lstrip('/')}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
