"""Fixes as minimal text edits, offered only when re-analysis proves them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from bot.engine import rules
from bot.engine.analysis import Context, Issue, analyse, detect
from bot.engine.config import Config
from bot.engine.document import DocumentError, YScalar
from bot.engine.expressions import (
    ExpressionError,
    Value,
    find_expressions,
    parse,
    references,
    references_in,
)
from bot.engine.findings import Fix, TextEdit, apply_edits
from bot.engine.workflow import NotAWorkflow, Step

Identity = tuple[str, str, str]


# Each round of proof parses the file and re-runs the pending jobs' detection. The rounds
# are bounded by count and by cost (in the units of ``Context.work``; parsing costs about one
# unit per 25 characters), so proofs add at most about a second to any file; a fix left
# unproven is not offered.
MAX_PROOF_ROUNDS = 8
PROOF_BUDGET = 150_000


def verified_fixes(reported: list[Issue], issues: list[Issue], context: Context) -> dict[int, Fix]:
    """Fixes for the reported issues that re-analysis proves, keyed by ``id(issue)``.

    A fix is proven when, applied, the file parses, its issue is gone and its job has no
    new issue. Edits stay inside the issue's job and a job's issues depend on that job
    alone, so one fix per job can be proven in the same pass: the file is parsed once per
    round, not once per fix.
    """
    pending: dict[str, list[tuple[Issue, Fix]]] = {}
    for issue in reported:
        if not issue.fixable:
            continue
        fix = _propose(issue, context)
        if fix is not None and fix.edits:
            pending.setdefault(issue.job.id, []).append((issue, fix))
    before: dict[str, set[Identity]] = {}
    for issue in issues:
        before.setdefault(issue.job.id, set()).add(issue.identity)
    proven: dict[int, Fix] = {}
    round_cost = context.work + len(context.source.text) // 25 + 1
    rounds = min(MAX_PROOF_ROUNDS, max(1, PROOF_BUDGET // round_cost))
    for _ in range(rounds):
        if not pending:
            break
        batch = [queue.pop(0) for queue in pending.values()]
        pending = {job: queue for job, queue in pending.items() if queue}
        passed = _prove(batch, context, before)
        if passed is None:  # the batch as a whole did not parse: try each fix alone
            for item in batch:
                proven.update(_prove([item], context, before) or {})
        else:
            proven.update(passed)
    return proven


def _prove(
    batch: list[tuple[Issue, Fix]], context: Context, before: dict[str, set[Identity]]
) -> dict[int, Fix] | None:
    edits = [edit for _, fix in batch for edit in fix.edits]
    try:
        fixed = apply_edits(context.source.text, edits)
        after, _ = detect(fixed, context.resolution, jobs={issue.job.id for issue, _ in batch})
    except (DocumentError, NotAWorkflow, ValueError):
        return None
    remaining: dict[str, set[Identity]] = {}
    for issue in after:
        remaining.setdefault(issue.job.id, set()).add(issue.identity)
    return {
        id(issue): fix
        for issue, fix in batch
        if issue.identity not in remaining.get(issue.job.id, set())
        and remaining.get(issue.job.id, set()) <= before[issue.job.id] - {issue.identity}
    }


def _propose(issue: Issue, context: Context) -> Fix | None:
    if issue.rule in (rules.PRERELEASE_CACHE_KEY, rules.PRERELEASE_RESTORE_KEY):
        return _key_fix(issue, context)
    if issue.rule is rules.SETUP_PYTHON_UNVERSIONED_CACHE:
        return _ref_fix(
            issue,
            context,
            "v2.3.4",
            "Use actions/setup-python@v2.3.4, whose pip key holds the Python version",
        )
    if issue.rule is rules.SETUP_UV_BEFORE_PYTHON:
        if issue.pin is not None:
            return _setup_uv_python_version(issue, issue.pin, context)
        return _move_below_setup(issue, context)
    if issue.rule is rules.SETUP_UV_UNVERSIONED_CACHE:
        return _ref_fix(
            issue,
            context,
            "v5",
            "Use astral-sh/setup-uv@v5, whose cache key holds the Python version",
        )
    return None


def _ref_fix(issue: Issue, context: Context, ref: str, description: str) -> Fix | None:
    uses = issue.step.node.scalar("uses")
    if uses is None:
        return None
    raw = context.source.text[uses.start : uses.end]
    at = raw.rfind("@")
    if at < 0:
        return None
    old = re.match(r"[\w.\-/]+", raw[at + 1 :])
    if old is None:
        return None
    start = uses.start + at + 1
    return Fix(description, (context.source.edit(start, start + old.end(), ref),))


def _setup_uv_python_version(issue: Issue, version: str, context: Context) -> Fix | None:
    """Give setup-uv the exact pre-release uv fetches later, so that its key names it."""
    if not re.fullmatch(r"[\w.+-]+", version):
        return None  # would need quoting: not worth guessing the file's style
    step = issue.step.node
    inputs = issue.step.inputs
    text = context.source.text
    newline = "\r\n" if "\r\n" in text else "\n"
    if inputs is not None:
        if inputs.flow or not inputs.pairs:
            return None
        after = inputs.pairs[-1][1]
        indent = " " * (inputs.pairs[-1][0].column - 1)
        addition = f"{newline}{indent}python-version: {version}"
    else:
        if step.flow or not step.pairs:
            return None
        after = step.pairs[-1][1]
        indent = " " * (step.pairs[0][0].column - 1)
        addition = f"{newline}{indent}with:{newline}{indent}  python-version: {version}"
    # Only after a plain one-line value is the end of the step's text certain.
    if not isinstance(after, YScalar) or after.style is not None:
        return None
    if any(mark in text[after.start : after.end] for mark in "\r\n"):
        return None
    # At the end of the line, so that a trailing comment stays where it is.
    line, _ = context.source.position(after.end)
    end = context.source.starts[line - 1] + len(context.source.lines[line - 1])
    return Fix(
        f"Give setup-uv python-version: {version}, the exact pre-release uv fetches later, "
        "so that its cache key names it",
        (context.source.edit(end, end, addition),),
    )


def _move_below_setup(issue: Issue, context: Context) -> Fix | None:
    """Cut the setup-uv step and paste it after the setup-python step it should follow."""
    if len(issue.sources) != 1:
        return None
    (index,) = issue.sources
    steps = issue.job.steps
    position = {step.index: n for n, step in enumerate(steps)}
    if index not in position or issue.step.index not in position:
        return None
    moved = _step_lines(steps, position[issue.step.index], context)
    target = _step_lines(steps, position[index], context)
    if moved is None or target is None:
        return None
    text = context.source.text[moved[0] : moved[1]]
    if not text.endswith(("\n", "\r")):
        return None
    setup = steps[position[index]]
    return Fix(
        f"Move this step below '{setup.label}', so that its cache key names that Python",
        (
            context.source.edit(moved[0], moved[1], ""),
            context.source.edit(target[1], target[1], text),
        ),
    )


def _step_lines(steps: list[Step], n: int, context: Context) -> tuple[int, int] | None:
    """Offsets of the whole lines a block-sequence step occupies, up to the next step."""
    step = steps[n]
    if step.node.flow:
        return None
    source = context.source
    start = source.starts[step.node.line - 1]
    if not source.text[start : step.node.start].strip().startswith("-"):
        return None  # not the first key on a ``- `` line
    if n + 1 < len(steps):
        following = steps[n + 1].node
        end = source.starts[following.line - 1]
        if not source.text[end : following.start].strip().startswith("-"):
            return None
    else:
        line, _ = source.position(max(step.node.end - 1, step.node.start))
        while line < len(source.starts) and not source.lines[line - 1].strip():
            line -= 1
        end = source.starts[line] if line < len(source.starts) else len(source.text)
    return start, end


# --- cache keys -------------------------------------------------------------------------


def _free_id(context: Context, issue: Issue) -> str:
    taken = issue.job.step_ids
    for candidate in ("setup-python", "python", "setup-python-2", "setup-python-3"):
        if candidate not in taken:
            return candidate
    return "setup-python-wheelwatch"


def _key_fix(issue: Issue, context: Context) -> Fix | None:
    if len(issue.sources) == 1 and not issue.nightly:
        (index,) = issue.sources
        if issue.installers.get(index) == "setup-python":
            return _output_key_fix(issue, context, index)
    if issue.one_interpreter:
        return _build_hash_key_fix(issue, context)
    return None


_HASH_WRITER = re.compile(r"(\w+)=\$\(python3? -VV")


def _build_hash_key_fix(issue: Issue, context: Context) -> Fix | None:
    """Key on a hash of ``python -VV`` (which holds a nightly's build date and commit),
    exported by a step after the last Python setup; the cache moves below it if needed."""
    steps = issue.job.steps
    last = max(issue.sources)
    setups = [s for s in steps if s.index in issue.sources]
    if not setups or min(issue.sources) < 0:
        return None  # a container's Python: nothing to place the step after
    anchor = next(s for s in steps if s.index == last)
    writer = next(
        (
            s
            for s in steps
            if s.index > last
            and s.index < issue.step.index
            and s.run
            and "GITHUB_ENV" in s.run
            and _HASH_WRITER.search(s.run)
        ),
        None,
    )
    variable = "PYTHON_BUILD"
    if writer is not None and writer.run is not None:
        match = _HASH_WRITER.search(writer.run)
        assert match is not None
        variable = match.group(1)
    elif variable in context.source.text:
        return None
    token = f"${{{{ env.{variable} }}}}"
    requested: set[str] = set()
    for setup in setups:
        requested |= _request_paths(setup)
    cache_edits = _cache_key_edits(issue, token, requested, context)
    if cache_edits is None:
        return None
    description = f"Key the cache on env.{variable}, a hash of python -VV (the exact build)"
    if writer is not None:
        return Fix(description, tuple(cache_edits))
    position = {s.index: n for n, s in enumerate(steps)}
    paste = _step_lines(steps, position[anchor.index], context)
    cache_lines = _step_lines(steps, position[issue.step.index], context)
    if paste is None or cache_lines is None:
        return None
    prefix = context.source.text[cache_lines[0] : issue.step.node.start]
    dash, key_indent = " " * prefix.index("-"), " " * len(prefix)
    hash_step = (
        f"{dash}- name: Hash the Python build\n"
        f"{key_indent}shell: bash\n"
        f"{key_indent}run: echo \"{variable}=$(python -VV | sha256sum | cut -d' ' -f1)\" "
        '>> "$GITHUB_ENV"\n'
    )
    description += f", computed after '{anchor.label}'"
    if issue.step.index < last:
        moved = _moved_below(issue.step, anchor, steps, cache_edits, context)
        if moved is None:
            return None
        cut, pasted = moved
        pasted = replace(pasted, replacement=hash_step + pasted.replacement)
        return Fix(description + ", and restore the cache after it", (cut, pasted))
    insert = context.source.edit(paste[1], paste[1], hash_step)
    return Fix(description, (insert, *cache_edits))


def _cache_key_edits(
    issue: Issue, token: str, requested: set[str], context: Context
) -> list[TextEdit] | None:
    """Edits that put ``token`` into the cache step's key and each of its restore-keys."""
    key = issue.step.input("key")
    restore = issue.step.input("restore-keys")
    if key is None:
        return None
    key_edits = _versioned(key, token, requested, False, context)
    if key_edits is None:
        return None
    edits = list(key_edits)
    if restore is not None:
        restore_edits = _restore_from_key(restore, key, key_edits, token, context)
        if restore_edits is None:
            restore_edits = _versioned(restore, token, requested, True, context)
        if restore_edits is None:
            return None
        edits.extend(restore_edits)
    return edits


def _output_key_fix(issue: Issue, context: Context, index: int) -> Fix | None:
    """Key on ``steps.<setup-python id>.outputs.python-version``, adding the id if needed."""
    setup = next((s for s in issue.job.steps if s.index == index), None)
    if setup is None:
        return None
    edits: list[TextEdit] = []
    step_id = setup.id
    if step_id is None:
        step_id = _free_id(context, issue)
        insertion = _insert_id(setup, step_id, context)
        if insertion is None:
            return None
        edits.append(insertion)
    token = f"${{{{ steps.{step_id}.outputs.python-version }}}}"
    cache_edits = _cache_key_edits(issue, token, _request_paths(setup), context)
    if cache_edits is None:
        return None
    description = f"Key the cache on steps.{step_id}.outputs.python-version, the exact build"
    if setup.index > issue.step.index:
        # The cache is restored before Python is set up, when that output is still empty:
        # the step moves below the setup step, rewritten.
        moved = _moved_below(issue.step, setup, issue.job.steps, cache_edits, context)
        if moved is None:
            return None
        cache_edits = moved
        description += f", and restore it after '{setup.label}'"
    edits.extend(cache_edits)
    if setup.id is None:
        description += f" (adds id: {step_id} to the setup-python step)"
    return Fix(description, tuple(edits))


def _moved_below(
    step: Step, target: Step, steps: list[Step], edits: list[TextEdit], context: Context
) -> list[TextEdit] | None:
    """Edits that cut ``step`` (with ``edits`` applied to it) and paste it after ``target``."""
    position = {s.index: n for n, s in enumerate(steps)}
    cut = _step_lines(steps, position[step.index], context)
    paste = _step_lines(steps, position[target.index], context)
    if cut is None or paste is None:
        return None
    start, end = cut
    if any(edit.start < start or edit.end > end for edit in edits):
        return None
    local = [replace(edit, start=edit.start - start, end=edit.end - start) for edit in edits]
    text = apply_edits(context.source.text[start:end], local)
    if not text.endswith(("\n", "\r")):
        return None
    return [context.source.edit(start, end, ""), context.source.edit(paste[1], paste[1], text)]


def _restore_from_key(
    restore: YScalar, key: YScalar, key_edits: list[TextEdit], token: str, context: Context
) -> list[TextEdit] | None:
    """Restore-keys that are prefixes of the key become the fixed key's prefix up to and
    including the version token, so they stay prefixes of it. ``None`` if a line is not a
    prefix of the key, or the key is not written verbatim in the source."""
    text = context.source.text
    old_key = text[key.start : key.end]
    if old_key != key.value:
        return None  # quoted, folded or block key: work line by line instead
    new_key = apply_edits(
        old_key, [replace(e, start=e.start - key.start, end=e.end - key.start) for e in key_edits]
    )
    at = new_key.find(token)
    if at < 0:
        return None
    cut = at + len(token)
    if new_key[cut : cut + 1] in ("-", "_", "|", "."):
        cut += 1
    replacement = new_key[:cut]
    raw = text[restore.start : restore.end]
    edits: list[TextEdit] = []
    search_from = 0
    for line in restore.value.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not key.value.startswith(stripped):
            return None
        located = raw.find(stripped, search_from)
        if located < 0:
            return None
        search_from = located + len(stripped)
        start = restore.start + located
        edits.append(context.source.edit(start, start + len(stripped), replacement))
    return edits


def _request_paths(setup: Step) -> set[str]:
    node = setup.input("python-version")
    return set(references_in(node.value)) if node is not None else set()


def _versioned(
    node: YScalar, token: str, requested: set[str], prefix: bool, context: Context
) -> list[TextEdit] | None:
    """Edits that put ``token`` into each line of a key or restore-keys value.

    Expressions are matched between the value and its source text by their order, which
    holds for every scalar style, folded and quoted ones included.
    """
    raw = context.source.text[node.start : node.end]
    in_source = find_expressions(raw)
    in_value = find_expressions(node.value)
    if len(in_source) != len(in_value):
        return None
    exact = token.removeprefix("${{").removesuffix("}}").strip()
    edits: list[TextEdit] = []
    offset = 0
    search_from = 0
    for line in node.value.splitlines(keepends=True):
        line_start, offset = offset, offset + len(line)
        stripped = line.strip()
        if not stripped:
            continue
        ordinals = [i for i, e in enumerate(in_value) if line_start <= e.start < offset]
        if ordinals:
            # A later line without expressions is searched for after this one.
            search_from = max(search_from, in_source[ordinals[-1]].end)
        if any(exact in in_value[i].body for i in ordinals):
            continue  # already keyed on the exact build: leave the line alone
        replaced = False
        for ordinal in ordinals:
            try:
                paths = set(references(parse(in_value[ordinal].body)))
            except ExpressionError:
                continue
            if paths and paths <= requested:
                source = in_source[ordinal]
                edits.append(
                    context.source.edit(node.start + source.start, node.start + source.end, token)
                )
                replaced = True
        if replaced:
            continue
        hashed = next((i for i in ordinals if "hashfiles" in in_value[i].body.lower()), None)
        if hashed is not None:
            at = node.start + in_source[hashed].start
            edits.append(context.source.edit(at, at, f"{token}-"))
            continue
        if ordinals:
            last = ordinals[-1]
            tail = node.value[in_value[last].end : line_start + len(line.rstrip())]
            if raw[in_source[last].end : in_source[last].end + len(tail)] != tail:
                return None
            end = in_source[last].end + len(tail)
        else:
            located = raw.find(stripped, search_from)
            if located < 0:
                return None
            end = located + len(stripped)
        search_from = end
        at = node.start + end
        if prefix or stripped.endswith(("-", "|", "_")):
            separator = "" if stripped.endswith(("-", "|", "_")) else "-"
            edits.append(context.source.edit(at, at, f"{separator}{token}-"))
        else:
            edits.append(context.source.edit(at, at, f"-{token}"))
    return edits


def _insert_id(setup: Step, step_id: str, context: Context) -> TextEdit | None:
    """Add ``id:`` as a new line in the step mapping, indented like its keys."""
    node = setup.node
    if node.flow or not node.pairs:
        return None
    first_key = node.pairs[0][0]
    indent = " " * (first_key.column - 1)
    if len(node.pairs) > 1:
        second = node.pairs[1][0]
        line_start = context.source.starts[second.line - 1]
        if context.source.text[line_start : second.start].strip():
            return None  # two keys on one line
        return context.source.edit(second.start, second.start, f"id: {step_id}\n{indent}")
    value = node.pairs[0][1]
    if not isinstance(value, YScalar) or value.line != first_key.line:
        return None
    end = value.end
    return context.source.edit(end, end, f"\n{indent}id: {step_id}")


def fix_all(
    text: str,
    *,
    config: Config | None = None,
    as_of: date | None = None,
    inputs: Sequence[Mapping[str, Value]] = (),
) -> tuple[str, int]:
    """Apply every offered fix, re-analysing between rounds; returns the text and the count.

    Fixes of one round may touch the same place (two caches keyed on one setup step both
    add its ``id:``): identical edits are merged, overlapping ones wait for the next round.
    """
    applied = 0
    for _ in range(_MAX_ROUNDS):
        analysis = analyse(text, config=config, as_of=as_of, inputs=inputs)
        chosen: list[TextEdit] = []
        for finding in analysis.findings:
            if finding.fix is None:
                continue
            new = [e for e in finding.fix.edits if e not in chosen]
            if any(_overlaps(e, c) for e in new for c in chosen):
                continue
            chosen.extend(new)
            applied += 1
        if not chosen:
            break
        text = apply_edits(text, chosen)
    return text, applied


_MAX_ROUNDS = 5


def _overlaps(a: TextEdit, b: TextEdit) -> bool:
    if a.start == a.end == b.start == b.end:
        return True  # two insertions at one point: their order would be arbitrary
    return a.start < b.end and b.start < a.end
