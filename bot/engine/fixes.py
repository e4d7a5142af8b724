"""The text edits fixes are made of: a key's version token, an ``id:`` added, a step moved,
an action's ref or input changed. Each rule's ``propose`` picks among them; the engine
offers a fix only after proving it (``bot.engine.proofs``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.engine.actions import CACHE
from bot.engine.document import YScalar
from bot.engine.expressions import (
    ExpressionError,
    find_expressions,
    parse,
    references,
    references_in,
)
from bot.engine.findings import Fix, TextEdit, apply_edits
from bot.engine.issues import Issue
from bot.engine.simulation import Context
from bot.engine.workflow import Step


def ref_fix(issue: Issue, context: Context, ref: str, description: str) -> Fix | None:
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


def setup_uv_python_version(issue: Issue, version: str, context: Context) -> Fix | None:
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


def move_below_setup(issue: Issue, context: Context) -> Fix | None:
    """Cut the setup-uv step and paste it after the setup-python step it should follow."""
    if len(issue.sources) != 1:
        return None
    (index,) = issue.sources
    setup = next((step for step in issue.job.steps if step.index == index), None)
    if setup is None:
        return None
    moved = _moved_below([issue.step], setup, issue.job.steps, [], context)
    if moved is None:
        return None
    return Fix(
        f"Move this step below '{setup.label}', so that its cache key names that Python",
        tuple(moved),
    )


# --- moving steps ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    """Offsets of the whole lines a block-sequence step occupies: from its leading comments
    (``start``) to the end of its last line (``end``), and the blank lines around it (from
    ``before`` to ``start``, and from ``end`` to ``after``). A comment at the dash's
    indentation just above a step describes it; blank lines separate, and stay between."""

    before: int
    start: int
    end: int
    after: int


def _block(steps: list[Step], n: int, context: Context) -> _Block | None:
    step = steps[n]
    if step.node.flow:
        return None
    source = context.source
    lines = source.lines
    dash = step.node.line - 1
    prefix = source.text[source.starts[dash] : step.node.start]
    if not prefix.strip().startswith("-"):
        return None  # not the first key on a ``- `` line
    indent = _indent(prefix)
    if n + 1 < len(steps):
        following = steps[n + 1].node
        bound = following.line - 1
        if not source.text[source.starts[bound] : following.start].strip().startswith("-"):
            return None
    else:
        bound, _ = source.position(max(step.node.end - 1, step.node.start))
    last = dash
    for number in range(dash, min(bound, len(lines))):
        line = lines[number]
        # A comment at the dash's indentation or less belongs to what follows the step.
        if line.strip() and not (line.lstrip().startswith("#") and _indent(line) <= indent):
            last = number
    first = dash
    while (
        first and lines[first - 1].lstrip().startswith("#") and _indent(lines[first - 1]) == indent
    ):
        first -= 1
    before = first
    while before and not lines[before - 1].strip():
        before -= 1
    after = last + 1
    while after < len(lines) - 1 and not lines[after].strip():
        after += 1

    def offset(number: int) -> int:
        return source.starts[number] if number < len(source.starts) else len(source.text)

    return _Block(offset(before), offset(first), offset(last + 1), offset(after))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_text(block: _Block, edits: list[TextEdit], context: Context) -> str | None:
    """The block's text with ``edits`` (which must lie inside it) applied."""
    if any(edit.start < block.start or edit.end > block.end for edit in edits):
        return None
    local = [
        replace(edit, start=edit.start - block.start, end=edit.end - block.start) for edit in edits
    ]
    text = apply_edits(context.source.text[block.start : block.end], local)
    return text if text.endswith(("\n", "\r")) else None


def _moved_below(
    moving: list[Step] | None,
    target: Step,
    steps: list[Step],
    edits: list[TextEdit],
    context: Context,
    lead: str = "",
) -> list[TextEdit] | None:
    """Edits that cut the ``moving`` steps (with ``edits`` applied to them), each with the
    comments above it, and paste them in their order below ``target``, after ``lead``
    (lines added with them)."""
    if not moving:
        return None
    position = {s.index: n for n, s in enumerate(steps)}
    paste = _block(steps, position[target.index], context)
    if paste is None:
        return None
    cuts: list[TextEdit] = []
    pasted = ""
    applied = 0
    for step in moving:
        cut = _block(steps, position[step.index], context)
        if cut is None:
            return None
        inside = [edit for edit in edits if cut.start <= edit.start < cut.end]
        text = _block_text(cut, inside, context)
        if text is None:
            return None
        applied += len(inside)
        # Blank lines below a step now separate it from the step it follows.
        pasted += context.source.text[cut.end : cut.after] + (lead if not cuts else "") + text
        cuts.append(context.source.edit(cut.start, cut.after, ""))
    if applied < len(edits):
        return None
    return [*cuts, context.source.edit(paste.end, paste.end, pasted)]


def _carried(cache: Step, setup: Step, steps: list[Step], keyed: set[int]) -> list[Step] | None:
    """The cache steps that move below ``setup`` with ``cache``, in order: those between
    them whose keys are being fixed too, so that the caches keep their order. ``None``
    when another cache lies between (it would end up above this one)."""
    carried = []
    for step in steps:
        if cache.index <= step.index < setup.index and step.uses and step.uses.owner_repo == CACHE:
            if step.index not in keyed and step is not cache:
                return None
            carried.append(step)
    return carried


def _moved_above(
    step: Step,
    target: Step,
    steps: list[Step],
    edits: list[TextEdit],
    context: Context,
    trail: str = "",
) -> list[TextEdit] | None:
    """Edits that cut ``step`` (with ``edits`` applied to it) and the comments above it, and
    paste it above ``target`` and its comments, followed by ``trail`` (lines added with it)."""
    position = {s.index: n for n, s in enumerate(steps)}
    cut = _block(steps, position[step.index], context)
    paste = _block(steps, position[target.index], context)
    if cut is None or paste is None:
        return None
    text = _block_text(cut, edits, context)
    if text is None:
        return None
    # The blank lines on one side of the step go with it, to separate it from the target.
    if cut.after > cut.end:
        removed, separator = (cut.start, cut.after), context.source.text[cut.end : cut.after]
    else:
        removed, separator = (cut.before, cut.end), context.source.text[cut.before : cut.start]
    return [
        context.source.edit(paste.start, paste.start, text + trail + separator),
        context.source.edit(*removed, ""),
    ]


def _may_move_above_caches(cache: Step, setup: Step, steps: list[Step], context: Context) -> bool:
    """Whether only caches run between ``cache`` and ``setup``, and ``setup`` reads none of
    their outputs: then the setup step can move above them, and the caches keep their order."""
    first = _first_of_caches_before(setup, steps)
    jumped = {s.id for s in steps if first.index <= s.index < setup.index and s.id}
    setup_text = context.source.text[setup.node.start : setup.node.end]
    mentioned = set(re.findall(r"steps\.([\w-]+)", setup_text))
    return first.index <= cache.index and not jumped & mentioned


def _first_of_caches_before(setup: Step, steps: list[Step]) -> Step:
    """The first of the ``actions/cache`` steps that run just before ``setup``."""
    position = next(n for n, s in enumerate(steps) if s is setup)
    first = setup
    for step in reversed(steps[:position]):
        if step.uses is None or step.uses.owner_repo != CACHE:
            break
        first = step
    return first


# --- cache keys -------------------------------------------------------------------------


def _free_id(context: Context, issue: Issue) -> str:
    taken = issue.job.step_ids
    for candidate in ("setup-python", "python", "setup-python-2", "setup-python-3"):
        if candidate not in taken:
            return candidate
    return "setup-python-wheelwatch"


# The rules whose fixes rewrite a cache step's keys (and may move the step).
KEY_RULES = frozenset({"WW001", "WW002"})


def keyed_caches(issues: Sequence[Issue]) -> set[int]:
    """The cache steps whose keys these issues' fixes would rewrite: a cache that moves
    takes along those it passes, so that the caches keep their order."""
    return {issue.step.index for issue in issues if issue.rule_id in KEY_RULES}


def key_fix(issue: Issue, context: Context, keyed: set[int]) -> Fix | None:
    if len(issue.sources) == 1 and not issue.nightly:
        (index,) = issue.sources
        if issue.installer_of(index) == "setup-python":
            return _output_key_fix(issue, context, index, keyed)
    if issue.one_interpreter:
        return _build_hash_key_fix(issue, context, keyed)
    return None


_HASH_WRITER = re.compile(r"(\w+)=\$\(python3? -VV")


def _build_hash_key_fix(issue: Issue, context: Context, keyed: set[int]) -> Fix | None:
    """Key on a hash of ``python -VV`` (which holds a nightly's build date and commit),
    exported by a step after the last Python setup; the cache moves below it if needed."""
    steps = issue.job.steps
    last = max(issue.sources)
    setups = [s for s in steps if s.index in issue.sources]
    if not setups or min(issue.sources) < 0:
        return None  # a container's Python: nothing to place the step after
    last_setup = next(s for s in steps if s.index == last)
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
    planned = _cache_key_edits(issue, token, requested, context)
    if planned is None:
        return None
    cache_edits, dropped = planned
    description = f"Key the cache on env.{variable}, a hash of python -VV (the exact build)"
    if writer is not None:
        return Fix(description + _dropping(dropped), tuple(cache_edits))
    position = {s.index: n for n, s in enumerate(steps)}
    paste = _block(steps, position[last_setup.index], context)
    if paste is None:
        return None
    source = context.source
    dash_line = source.starts[issue.step.node.line - 1]
    prefix = source.text[dash_line : issue.step.node.start]
    dash, key_indent, newline = " " * prefix.index("-"), " " * len(prefix), source.line_break
    hash_step = (
        f"{dash}- name: Hash the Python build{newline}"
        f"{key_indent}shell: bash{newline}"
        f"{key_indent}run: echo \"{variable}=$(python -VV | sha256sum | cut -d' ' -f1)\" "
        f'>> "$GITHUB_ENV"{newline}'
    )
    description += f", computed after '{last_setup.label}'"
    if issue.step.index < last:
        if len(setups) == 1 and _may_move_above_caches(issue.step, last_setup, steps, context):
            first = _first_of_caches_before(last_setup, steps)
            moved = _moved_above(last_setup, first, steps, [], context, trail=hash_step)
            description += f", and set up Python first ('{last_setup.label}' moves up)"
            edits = None if moved is None else moved + cache_edits
        else:
            carried = _carried(issue.step, last_setup, steps, keyed)
            moved = _moved_below(carried, last_setup, steps, cache_edits, context, lead=hash_step)
            description += ", and restore the cache after it"
            edits = moved
        if edits is None:
            return None
        return Fix(description + _dropping(dropped), tuple(edits))
    insert = source.edit(paste.end, paste.end, hash_step)
    return Fix(description + _dropping(dropped), (insert, *cache_edits))


def _output_key_fix(issue: Issue, context: Context, index: int, keyed: set[int]) -> Fix | None:
    """Key on ``steps.<setup-python id>.outputs.python-version``, adding the id if needed."""
    steps = issue.job.steps
    setup = next((s for s in steps if s.index == index), None)
    if setup is None:
        return None
    setup_edits: list[TextEdit] = []
    step_id = setup.id
    if step_id is None:
        step_id = _free_id(context, issue)
        insertion = _insert_id(setup, step_id, context)
        if insertion is None:
            return None
        setup_edits.append(insertion)
    token = f"${{{{ steps.{step_id}.outputs.python-version }}}}"
    planned = _cache_key_edits(issue, token, _request_paths(setup), context)
    if planned is None:
        return None
    cache_edits, dropped = planned
    description = f"Key the cache on steps.{step_id}.outputs.python-version, the exact build"
    edits = setup_edits + cache_edits
    if setup.index > issue.step.index:
        moved = _setup_before_cache(
            issue.step, setup, steps, setup_edits, cache_edits, context, keyed
        )
        if moved is None:
            return None
        edits, how = moved
        description += how
    if setup.id is None:
        description += f" (adds id: {step_id} to the setup-python step)"
    return Fix(description + _dropping(dropped), tuple(edits))


def _setup_before_cache(
    cache: Step,
    setup: Step,
    steps: list[Step],
    setup_edits: list[TextEdit],
    cache_edits: list[TextEdit],
    context: Context,
    keyed: set[int],
) -> tuple[list[TextEdit], str] | None:
    """The cache is restored before Python is set up, when the setup's output is still
    empty. Where only caches come between, the setup step moves above them (so the caches
    keep their order); otherwise the cache moves below the setup step."""
    if _may_move_above_caches(cache, setup, steps, context):
        first = _first_of_caches_before(setup, steps)
        moved = _moved_above(setup, first, steps, setup_edits, context)
        how = f", and set up Python first ('{setup.label}' moves up)"
        return None if moved is None else (moved + cache_edits, how)
    moved = _moved_below(_carried(cache, setup, steps, keyed), setup, steps, cache_edits, context)
    how = f", and restore it after '{setup.label}'"
    return None if moved is None else (setup_edits + moved, how)


def _dropping(dropped: list[str]) -> str:
    if not dropped:
        return ""
    listed = ", ".join(repr(line) for line in dropped)
    plural = "s" if len(dropped) > 1 else ""
    return (
        f"; drops the restore-key{plural} {listed}, which would restore a cache built by any Python"
    )


@dataclass(frozen=True)
class _KeyLine:
    """One line of a key or restore-keys value, and what the fix makes of it."""

    number: int  # among the value's lines
    old: str  # the line as the cache action reads it, without surrounding blanks
    new: str
    edits: tuple[TextEdit, ...]
    # The line named a Python version before the fix (the requested one or the build).
    versioned: bool
    # Where in ``old`` the token goes (or replaces an expression), where it ends in ``new``.
    at: int
    after: int
    # Where the line ends in the source, when the source spells it as the value does.
    end: int | None


def _cache_key_edits(
    issue: Issue, token: str, requested: set[str], context: Context
) -> tuple[list[TextEdit], list[str]] | None:
    """Edits that put ``token`` into the cache step's key and its restore-keys, and the
    version-less restore-keys they drop.

    In each line, only the expression that names the requested version is replaced; where
    there is none, the token is added (before a ``hashFiles``, or at the end). A restore-key
    that is a prefix of the key up to where the key gets the token gets it at the same
    place, so that it stays a prefix. A version-less restore-key shorter than that, or that
    the token would make a copy of another line or of the key, is the hazard itself: it is
    dropped rather than rewritten."""
    key = issue.step.input("key")
    if key is None:
        return None
    key_lines = _plan_lines(key, token, requested, False, context)
    if key_lines is None:
        return None
    edits = [edit for line in key_lines for edit in line.edits]
    restore = issue.step.input("restore-keys")
    if restore is None:
        return edits, []
    plans = _plan_lines(restore, token, requested, True, context)
    if plans is None:
        return None
    whole = key_lines[0] if len(key_lines) == 1 else None
    kept: list[_KeyLine] = []
    dropped: list[_KeyLine] = []
    for plan in plans:
        if whole is not None and not plan.versioned and whole.old.startswith(plan.old):
            if len(plan.old) < whole.at:
                dropped.append(plan)
                continue
            if len(plan.old) == whole.at:
                extended = _extended_like(plan, whole, context)
                if extended is None:
                    return None
                plan = extended
        kept.append(plan)
    versioned = [plan.new for plan in kept if plan.versioned]
    if len(set(versioned)) < len(versioned):
        return None
    seen = set(versioned) | ({whole.new} if whole is not None else set())
    for plan in kept:
        if plan.versioned:
            continue
        if plan.new in seen:
            dropped.append(plan)
        seen.add(plan.new)
    if dropped:
        removal = _dropped_lines(issue.step, restore, plans, dropped, context)
        if removal is None:
            return None
        edits.extend(removal)
    edits.extend(edit for plan in kept if plan not in dropped for edit in plan.edits)
    return edits, [plan.old for plan in sorted(dropped, key=lambda p: p.number)]


def _extended_like(line: _KeyLine, key: _KeyLine, context: Context) -> _KeyLine | None:
    """``line``, a prefix of the key up to where the key gets the token, extended as the
    key is: up to the token and the separator after it."""
    new = key.new[: key.after]
    if key.new[key.after : key.after + 1] in ("-", "_", "|", "."):
        new += key.new[key.after]
    if line.end is None:
        return None
    edit = context.source.edit(line.end, line.end, new[len(line.old) :])
    return replace(line, new=new, edits=(edit,))


def _dropped_lines(
    step: Step, restore: YScalar, plans: list[_KeyLine], dropped: list[_KeyLine], context: Context
) -> list[TextEdit] | None:
    """Edits that delete the dropped restore-key lines: whole source lines of a literal
    block, or the whole ``restore-keys`` entry when no line is left."""
    source = context.source
    if len(dropped) < len(plans):
        if restore.style != "|":
            return None
        # In a literal block, the value's lines are the source lines below the ``|``.
        numbers = [restore.line + plan.number for plan in dropped]
        if max(numbers) + 1 >= len(source.starts):
            return None
        return [source.edit(source.starts[n], source.starts[n + 1], "") for n in numbers]
    inputs = step.inputs
    name = inputs.key_node("restore-keys") if inputs is not None and not inputs.flow else None
    if name is None:
        return None
    start = source.starts[name.line - 1]
    if source.text[start : name.start].strip():
        return None
    end = restore.end
    while end > restore.start and source.text[end - 1] in " \t\r\n":
        end -= 1
    line, _ = source.position(end)
    return [
        source.edit(
            start, source.starts[line] if line < len(source.starts) else len(source.text), ""
        )
    ]


def _request_paths(setup: Step) -> set[str]:
    node = setup.input("python-version")
    return set(references_in(node.value)) if node is not None else set()


def _plan_lines(
    node: YScalar, token: str, requested: set[str], prefix: bool, context: Context
) -> list[_KeyLine] | None:
    """What putting ``token`` into each line of a key or restore-keys value makes of it.

    Expressions are matched between the value and its source text by their order, which
    holds for every scalar style, folded and quoted ones included.
    """
    raw = context.source.text[node.start : node.end]
    in_source = find_expressions(raw)
    in_value = find_expressions(node.value)
    if len(in_source) != len(in_value):
        return None
    exact = token.removeprefix("${{").removesuffix("}}").strip()
    plans: list[_KeyLine] = []
    offset = 0
    search_from = 0
    for number, line in enumerate(node.value.splitlines(keepends=True)):
        line_start, offset = offset, offset + len(line)
        stripped = line.strip()
        if not stripped:
            continue
        lead = line_start + len(line) - len(line.lstrip())
        ordinals = [i for i, e in enumerate(in_value) if line_start <= e.start < offset]
        # Where the line ends in the source, if the source spells its tail as the value does.
        end: int | None = None
        if ordinals:
            last = ordinals[-1]
            tail = node.value[in_value[last].end : line_start + len(line.rstrip())]
            if raw[in_source[last].end : in_source[last].end + len(tail)] == tail:
                end = node.start + in_source[last].end + len(tail)
            search_from = max(search_from, in_source[last].end)
        else:
            located = raw.find(stripped, search_from)
            if located >= 0:
                end = node.start + located + len(stripped)
        if end is not None:
            search_from = max(search_from, end - node.start)

        edits: list[TextEdit] = []
        already = next((i for i in ordinals if exact in in_value[i].body), None)
        replaced = [i for i in ordinals if _names(in_value[i].body, requested)]
        hashed = next((i for i in ordinals if "hashfiles" in in_value[i].body.lower()), None)
        if already is not None:  # already keyed on the exact build: leave the line alone
            new, versioned = stripped, True
            at, after = in_value[already].start - lead, in_value[already].end - lead
        elif replaced:
            pieces, cursor = [], lead
            for i in replaced:
                where = in_source[i]
                edits.append(
                    context.source.edit(node.start + where.start, node.start + where.end, token)
                )
                pieces += [node.value[cursor : in_value[i].start], token]
                cursor = in_value[i].end
            new = "".join(pieces) + node.value[cursor : lead + len(stripped)]
            versioned, at = True, in_value[replaced[0]].start - lead
            after = at + len(token)
        elif hashed is not None:
            at = in_value[hashed].start - lead
            where_hashed = node.start + in_source[hashed].start
            edits.append(context.source.edit(where_hashed, where_hashed, f"{token}-"))
            new, versioned, after = (
                stripped[:at] + f"{token}-" + stripped[at:],
                False,
                at + len(token),
            )
        elif end is not None:
            if prefix or stripped.endswith(("-", "|", "_")):
                separator = "" if stripped.endswith(("-", "|", "_")) else "-"
                added = f"{separator}{token}-"
            else:
                added = f"-{token}"
            edits.append(context.source.edit(end, end, added))
            new, versioned, at = stripped + added, False, len(stripped)
            after = len(stripped) + added.index(token) + len(token)
        else:
            return None
        plans.append(_KeyLine(number, stripped, new, tuple(edits), versioned, at, after, end))
    return plans


def _names(body: str, requested: set[str]) -> bool:
    """Whether an expression names nothing but the requested version."""
    try:
        paths = set(references(parse(body)))
    except ExpressionError:
        return False
    return bool(paths) and paths <= requested


def _insert_id(setup: Step, step_id: str, context: Context) -> TextEdit | None:
    """Add ``id:`` as a new line in the step mapping, indented like its keys."""
    node = setup.node
    if node.flow or not node.pairs:
        return None
    first_key = node.pairs[0][0]
    indent = " " * (first_key.column - 1)
    newline = context.source.line_break
    if len(node.pairs) > 1:
        second = node.pairs[1][0]
        line_start = context.source.starts[second.line - 1]
        if context.source.text[line_start : second.start].strip():
            return None  # two keys on one line
        return context.source.edit(second.start, second.start, f"id: {step_id}{newline}{indent}")
    value = node.pairs[0][1]
    if not isinstance(value, YScalar) or value.line != first_key.line:
        return None
    end = value.end
    return context.source.edit(end, end, f"{newline}{indent}id: {step_id}")
