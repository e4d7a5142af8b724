"""The mechanical comparison of a workflow before and after a fix (issue #7).

A fix may: replace an expression that names the requested Python version by one that names
the resolved build (``steps.<id>.outputs.python-version`` or an ``env.`` hash of
``python -VV``), or add that token with a separator; drop a version-less restore-key; add an
``id:`` line or a step that hashes ``python -VV``; move cache and Python-setup steps, each
with the comments above it; and change an action's ref. ``changes_beyond_the_fix`` lists
everything else it changed: a lost token, quote or line fold, two identical restore-keys, a
comment above another line than before, steps in another relative order, a line ending,
indentation or blank line that differs.

It reads the YAML with ruamel.yaml directly, not through the engine, so that it judges the
engine's edits without sharing their assumptions.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_TOKEN = re.compile(r"\$\{\{.*?\}\}|\s+|[A-Za-z0-9]+|.", re.S)
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_RESOLVED = re.compile(r"steps\.[\w-]+\.outputs\.python-version|env\.\w+")
_SEPARATORS = ("-", "_", "|", ".")
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_CACHE = ("actions/cache",)
# Steps a fix may move; each kind keeps its relative order.
_MOVABLE = (_CACHE, ("actions/setup-python",), ("deadsnakes/action",), ("astral-sh/setup-uv",))


@dataclass
class _Step:
    label: str
    uses: str
    node: MappingNode
    # Python -VV hash steps are the only steps a fix adds.
    hashes_the_build: bool

    def input(self, name: str) -> ScalarNode | None:
        inputs = _get(self.node, "with")
        value = _get(inputs, name) if isinstance(inputs, MappingNode) else None
        return value if isinstance(value, ScalarNode) else None


def changes_beyond_the_fix(before: str, after: str) -> list[str]:
    """What ``after`` changes in ``before`` beyond what a fix may change (see the module)."""
    problems = _line_endings(before, after)
    old_jobs, new_jobs = _jobs(before), _jobs(after)
    if set(old_jobs) != set(new_jobs):
        return [*problems, f"jobs differ: {sorted(old_jobs)} -> {sorted(new_jobs)}"]
    requested = _requested(before)
    for job, old_steps in old_jobs.items():
        problems += _step_order(job, old_steps, new_jobs[job])
        new_by_label = {step.label: step for step in new_jobs[job]}
        for step in old_steps:
            moved = new_by_label.get(step.label)
            if moved is not None and step.uses.startswith(_CACHE):
                where = f"{job}/{step.label}"
                problems += _key(where, before, after, step, moved, requested)
                problems += _restore_keys(where, before, after, step, moved, requested)
    problems += _comments(before, after)
    problems += _other_lines(before, after, old_jobs, new_jobs)
    return problems


# --- the file as a whole -------------------------------------------------------------------


def _line_endings(before: str, after: str) -> list[str]:
    endings = Counter(_LINE_BREAK.findall(before))
    used = set(_LINE_BREAK.findall(after))
    if len(endings) == 1 and used - set(endings):
        return [f"line endings {sorted(endings)} became {sorted(used)}"]
    return []


def _lines(text: str) -> list[str]:
    return _LINE_BREAK.split(text)


def _comments(before: str, after: str) -> list[str]:
    """Each full-line comment is still above the line it was above (modulo the fix's own
    edits to that line: its expressions and action refs)."""
    problems: list[str] = []
    old, new = _comment_targets(_lines(before)), _comment_targets(_lines(after))
    for comment, target in old.items():
        if comment not in new:
            problems.append(f"comment lost: {comment[0].strip()!r}")
        elif new[comment] != target:
            problems.append(
                f"comment {comment[0].strip()!r} was above {target!r}, is above {new[comment]!r}"
            )
    return problems


def _comment_targets(lines: list[str]) -> dict[tuple[str, int], str | None]:
    targets: dict[tuple[str, int], str | None] = {}
    seen: Counter[str] = Counter()
    for n, line in enumerate(lines):
        if not line.lstrip().startswith("#"):
            continue
        below = (
            candidate
            for candidate in lines[n + 1 :]
            if candidate.strip() and not candidate.lstrip().startswith("#")
        )
        targets[(line, seen[line])] = _normalised(next(below, None))
        seen[line] += 1
    return targets


def _normalised(line: str | None) -> str | None:
    if line is None:
        return None
    line = _EXPRESSION.sub("E", line)
    line = re.sub(r"E(?:[-_|.]?E)+", "E", line)
    return re.sub(r"@[^\s'\"#]+", "@", line).rstrip()


def _other_lines(
    before: str, after: str, old_jobs: dict[str, list[_Step]], new_jobs: dict[str, list[_Step]]
) -> list[str]:
    """Lines outside the keys are kept (refs aside), and only ``id:`` and hash-step lines are
    added; blank lines and indentation are the file's own."""
    old = Counter(_outside_keys(before, old_jobs))
    new = Counter(_outside_keys(after, new_jobs))
    problems = [f"line lost or changed: {line!r}" for line in (old - new).elements()]
    problems += [
        f"line added: {line!r}"
        for line in (new - old).elements()
        if not re.fullmatch(r"\s*id: [\w-]+", line)
    ]
    old_lines, new_lines = _lines(before), _lines(after)
    if _blank_runs(old_lines) != _blank_runs(new_lines):
        problems.append(
            f"blank lines: {_blank_runs(old_lines)} runs before, {_blank_runs(new_lines)} after"
        )
    indents = {_indent(line) for line in old_lines if line.strip()}
    problems += [
        f"indentation not used in the file: {line!r}"
        for line in new_lines
        if line.strip() and _indent(line) not in indents
    ]
    return problems


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _blank_runs(lines: list[str]) -> Counter[int]:
    runs: Counter[int] = Counter()
    length = 0
    for line in [*lines, "end"]:
        if line.strip():
            if length:
                runs[length] += 1
            length = 0
        else:
            length += 1
    return runs


def _outside_keys(text: str, jobs: dict[str, list[_Step]]) -> list[str]:
    """The file's non-blank lines without the lines of cache keys and restore-keys and of
    added hash steps, refs of ``uses:`` blanked out."""
    skipped: set[int] = set()
    for steps in jobs.values():
        for step in steps:
            if step.hashes_the_build:
                last_value = step.node.value[-1][1]
                skipped.update(range(step.node.start_mark.line, _last_line(text, last_value) + 1))
            if not step.uses.startswith(_CACHE):
                continue
            inputs = _get(step.node, "with")
            if not isinstance(inputs, MappingNode):
                continue
            for name, value in inputs.value:
                if name.value in ("key", "restore-keys"):
                    skipped.update(range(name.start_mark.line, _last_line(text, value) + 1))
    return [
        re.sub(r"@[^\s'\"#]+", "@", line)
        for n, line in enumerate(_lines(text))
        if n not in skipped and line.strip()
    ]


def _last_line(text: str, node: Node) -> int:
    """0-based line of a node's last character (block scalars end on the next line)."""
    end = node.end_mark.index
    while end > node.start_mark.index and text[end - 1] in " \r\n":
        end -= 1
    return len(_LINE_BREAK.findall(text[:end]))


# --- steps ---------------------------------------------------------------------------------


def _step_order(job: str, old: list[_Step], new: list[_Step]) -> list[str]:
    problems: list[str] = []
    old_labels = [step.label for step in old]
    new_labels = [step.label for step in new if not step.hashes_the_build]
    if sorted(old_labels) != sorted(new_labels):
        return [f"{job}: steps {old_labels} became {new_labels}"]
    for kind in _MOVABLE:
        order = [step.label for step in old if step.uses.startswith(kind)]
        moved = [label for label in new_labels if label in order]
        if order != moved:
            problems.append(f"{job}: {kind[0]} steps reordered: {order} -> {moved}")
    # Every other step keeps its place relative to the others.
    fixed = {step.label for step in old if not step.uses.startswith(sum(_MOVABLE, ()))}
    order = [label for label in old_labels if label in fixed]
    moved = [label for label in new_labels if label in fixed]
    if order != moved:
        problems.append(f"{job}: steps reordered: {order} -> {moved}")
    return problems


# --- keys ----------------------------------------------------------------------------------


def _key(
    where: str, before: str, after: str, old: _Step, new: _Step, requested: set[str]
) -> list[str]:
    old_key, new_key = old.input("key"), new.input("key")
    if old_key is None or new_key is None:
        return [f"{where}: key removed"] if old_key is not None else []
    problems: list[str] = []
    if old_key.style != new_key.style:
        problems.append(f"{where}: key style {old_key.style!r} became {new_key.style!r}")
    difference = _token_difference(_raw(before, old_key), _raw(after, new_key), requested)
    if difference:
        problems.append(f"{where}: key {difference}")
    if _line_rest(before, old_key) != _line_rest(after, new_key):
        problems.append(f"{where}: the text around the key changed")
    return problems


def _restore_keys(
    where: str, before: str, after: str, old: _Step, new: _Step, requested: set[str]
) -> list[str]:
    old_node, new_node = old.input("restore-keys"), new.input("restore-keys")
    if old_node is None:
        return [] if new_node is None else [f"{where}: restore-keys added"]
    old_lines = _raw(before, old_node).splitlines()
    new_lines = _raw(after, new_node).splitlines() if new_node is not None else []
    if new_node is not None and old_node.style != new_node.style:
        return [f"{where}: restore-keys style {old_node.style!r} became {new_node.style!r}"]
    # The build the fixed key names: a restore-key that names it, or the requested version,
    # must stay; one that names neither (or another, inexact, output) may be dropped.
    old_key, new_key = old.input("key"), new.input("key")
    before_key = set(_TOKEN.findall(_raw(before, old_key) if old_key is not None else ""))
    after_key = _TOKEN.findall(_raw(after, new_key) if new_key is not None else "")
    exact = {_body(t) for t in after_key if _is_resolved(t) and t not in before_key} or {
        _body(t) for t in after_key if _is_resolved(t)
    }
    problems: list[str] = []
    values = [line.strip() for line in (new_node.value if new_node else "").splitlines()]
    duplicates = sorted(v for v, count in Counter(v for v in values if v).items() if count > 1)
    if duplicates:
        problems.append(f"{where}: duplicate restore-keys {duplicates}")
    j = 0
    for line in old_lines:
        if j < len(new_lines) and _token_difference(line, new_lines[j], requested) is None:
            j += 1
        elif _names_a_version(line, requested | exact):
            shown = new_lines[j] if j < len(new_lines) else None
            problems.append(f"{where}: restore-key {line.strip()!r} became {shown!r}")
            j += 1
        # else: a version-less restore-key, which a fix drops
    problems += [f"{where}: restore-key added: {line!r}" for line in new_lines[j:]]
    return problems


def _names_a_version(line: str, versions: set[str]) -> bool:
    return bool({body.strip() for body in _EXPRESSION.findall(line)} & versions)


def _token_difference(old: str, new: str, requested: set[str]) -> str | None:
    """``None`` when ``new`` is ``old`` with requested-version expressions replaced by a
    resolved-version expression, or one added with separators; else how they differ."""
    o, n = _TOKEN.findall(old), _TOKEN.findall(new)
    resolved = [_is_resolved(token) and token not in o for token in n]
    separator = [
        token in _SEPARATORS
        and ((k > 0 and resolved[k - 1]) or (k + 1 < len(n) and resolved[k + 1]))
        for k, token in enumerate(n)
    ]
    i = j = 0
    while j < len(n):
        if i < len(o) and o[i] == n[j]:
            i, j = i + 1, j + 1
        elif resolved[j]:
            if i < len(o) and _body(o[i]) in requested:
                i += 1  # the requested version, replaced
            j += 1
        elif separator[j]:
            j += 1
        else:
            return f"{old!r} became {new!r}"
    return None if i == len(o) else f"{old!r} became {new!r}"


def _is_resolved(token: str) -> bool:
    return token.startswith("${{") and bool(_RESOLVED.fullmatch(_body(token)))


def _body(token: str) -> str:
    match = _EXPRESSION.fullmatch(token)
    return match.group(1).strip() if match else ""


def _raw(text: str, node: ScalarNode) -> str:
    raw = text[node.start_mark.index : node.end_mark.index]
    return raw.rstrip(" \r\n") if node.style in ("|", ">") else raw


def _line_rest(text: str, node: ScalarNode) -> tuple[str, str]:
    """What shares the key's first and last lines: indentation, the ``key:``, a comment."""
    start, end = node.start_mark.index, node.end_mark.index
    if node.style in ("|", ">"):
        end = start + len(_raw(text, node))
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    line_end = _LINE_BREAK.search(text, end)
    return text[line_start:start], text[end : line_end.start() if line_end else len(text)]


def _requested(text: str) -> set[str]:
    """Expressions that name a requested Python version: those in any ``python-version``."""
    found: set[str] = set()
    for line in _lines(text):
        if re.match(r"\s*-?\s*python-versions?\s*:", line):
            found |= {body.strip() for body in _EXPRESSION.findall(line)}
    return found


# --- reading the YAML ------------------------------------------------------------------------


def _jobs(text: str) -> dict[str, list[_Step]]:
    root = YAML().compose(text)
    if not isinstance(root, MappingNode):
        return {}
    jobs = _get(root, "jobs")
    bodies: list[tuple[str, Node | None]] = []
    if isinstance(jobs, MappingNode):
        bodies = [(name.value, body) for name, body in jobs.value]
    runs = _get(root, "runs")
    if isinstance(runs, MappingNode):
        bodies.append(("(composite)", runs))
    found: dict[str, list[_Step]] = {}
    for name, body in bodies:
        steps = _get(body, "steps") if isinstance(body, MappingNode) else None
        if isinstance(steps, SequenceNode):
            found[name] = _steps(steps)
    return found


def _steps(sequence: SequenceNode) -> list[_Step]:
    steps: list[_Step] = []
    ranks: Counter[str] = Counter()
    for item in sequence.value:
        if not isinstance(item, MappingNode):
            continue
        uses = _scalar(item, "uses")
        run = _scalar(item, "run")
        inputs = _get(item, "with")
        path = _scalar(inputs, "path") if isinstance(inputs, MappingNode) else ""
        base = _scalar(item, "name") or f"{re.sub(r'@.*', '', uses)} {path}".strip()
        base = base or run.split("\n")[0]
        steps.append(
            _Step(
                label=f"{base}#{ranks[base]}",
                uses=uses,
                node=item,
                hashes_the_build="python -VV" in run and "GITHUB_ENV" in run,
            )
        )
        ranks[base] += 1
    return steps


def _get(node: Node | None, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    return next((value for name, value in node.value if name.value == key), None)


def _scalar(node: MappingNode, key: str) -> str:
    value = _get(node, key)
    return str(value.value) if isinstance(value, ScalarNode) else ""
