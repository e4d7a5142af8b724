"""Generated workflows: the engine never raises, every offered fix verifies, and fixing
is idempotent."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from minimal_change import changes_beyond_the_fix
from support import TODAY, analyse, fix_all, fix_problems

from bot.engine import apply_edits

PYTHONS = [
    "3.13",
    "3.14",
    "3.15",
    "3.16",
    "3.15-dev",
    "3.16-dev",
    "3.16t",
    "3.x",
    "3.16.0-alpha.2",
    "pypy3.11",
    "pypy3.11-nightly",
]
PRERELEASES = ["3.16-dev", "3.16-dev", "3.16.0-alpha.2", "3.16t-dev"]
OSES = ["ubuntu-latest", "windows-latest", "macos-latest"]
PATHS = [
    "~/.cache/pip",
    "~/.cache/pip",
    "~/.cache/uv",
    ".venv",
    ".tox",
    "~/.cache/pre-commit",
    "~/.npm",
]
KEY_PARTS = [
    "pip",
    "${{ runner.os }}",
    "${{ matrix.python }}",
    "${{ matrix.os }}",
    "${{ steps.py.outputs.python-version }}",
    "${{ env.pythonLocation }}",
    "${{ hashFiles('requirements.txt') }}",
    "v1",
]
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


def quoted(value: str, style: str, indent: str) -> str:
    """``value`` as a YAML scalar in ``style``, for a key whose lines are at ``indent``."""
    if style == "single":
        return "'" + value.replace("'", "''") + "'"
    if style == "double":
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "folded":
        return ">-\n" + "\n".join(f"{indent}  {part}" for part in value.split("-")) + "\n"
    return value


@dataclass
class Generated:
    text: str
    # Every WW001/WW002 finding should carry a fix: one setup-python step installs every
    # Python, none is a nightly, and no key is folded over several lines.
    all_fixable: bool


@st.composite
def workflows(draw: st.DrawFn) -> Generated:
    # Mostly matrices that can run a pre-release: those are where findings and fixes are.
    python_axis = draw(st.lists(st.sampled_from(PYTHONS), min_size=0, max_size=2, unique=True))
    if draw(st.integers(0, 3)):
        python_axis.insert(0, draw(st.sampled_from(PRERELEASES)))
    python_axis = list(dict.fromkeys(python_axis)) or ["3.14"]
    with_os = draw(st.booleans())
    os_axis = draw(st.lists(st.sampled_from(OSES), min_size=1, max_size=2, unique=True))
    lines = ["on: push", "jobs:", "  test:", "    runs-on: ${{ matrix.os || 'ubuntu-latest' }}"]
    lines += ["    strategy:", "      matrix:"]
    lines.append(f"        python: [{', '.join(repr(p) for p in python_axis)}]")
    if with_os:
        lines.append(f"        os: [{', '.join(os_axis)}]")
    if draw(st.booleans()):
        lines.append("        include:")
        for _ in range(draw(st.integers(1, 2))):
            entry = {"python": draw(st.sampled_from(PYTHONS))}
            if draw(st.booleans()):
                entry["os"] = draw(st.sampled_from(OSES))
            if draw(st.booleans()):
                entry["experimental"] = "true"
            pairs = ", ".join(
                f"{k}: {v!r}" if k != "experimental" else f"{k}: {v}" for k, v in entry.items()
            )
            lines.append(f"          - {{{pairs}}}")
    if draw(st.booleans()):
        lines.append("        exclude:")
        lines.append(f"          - python: {draw(st.sampled_from(PYTHONS))!r}")
    lines.append("    steps:")
    if draw(st.booleans()):
        lines.append("      - uses: actions/checkout@v5  # checkout")
    # Caches restored before Python is set up: the fix moves steps, with their comments.
    caches_first = not draw(st.integers(0, 3))
    if caches_first:
        for _ in range(draw(st.integers(1, 2))):
            lines += cache_step(draw)
    if draw(st.booleans()):
        lines.append("      # Set up Python")
    setup_ref = draw(st.sampled_from(["v6", "v5", "v2", "v2.3.1", "v4.6.0"]))
    lines.append(f"      - uses: actions/setup-python@{setup_ref}")
    if draw(st.booleans()):
        lines.append("        id: py")
    elif draw(st.booleans()):
        lines.append("        name: Set up Python")
    lines.append("        with:")
    lines.append("          python-version: ${{ matrix.python }}")
    if draw(st.booleans()):
        lines.append("          allow-prereleases: true")
    if draw(st.booleans()):
        lines.append(f"          cache: {draw(st.sampled_from(['pip', 'poetry', 'npm']))}")
    uses_uv = draw(st.booleans())
    if uses_uv:
        uv_ref = draw(st.sampled_from(["v3", "v5", "v6"]))
        lines.append(f"      - uses: astral-sh/setup-uv@{uv_ref}")
        if draw(st.booleans()):
            lines.append("        with:")
            lines.append("          enable-cache: true")
    for _ in range(draw(st.integers(0 if caches_first else 1, 2))):
        lines += cache_step(draw)
    text = "\n".join(lines) + "\n"
    all_fixable = not uses_uv and "nightly" not in text and ">-" not in text
    if draw(st.booleans()):
        lines.append("      - run: pip install -r requirements.txt  # wheelwatch: ignore[WW002]")
    return Generated(text, all_fixable)


def cache_step(draw: st.DrawFn) -> list[str]:
    lines = [""] if draw(st.booleans()) else []
    if draw(st.booleans()):
        lines.append(f"      # {draw(st.sampled_from(['pip', 'Restore the cache', 'deps']))}")
    lines.append(f"      - uses: actions/cache@{draw(st.sampled_from(['v4', 'v5']))}")
    if not draw(st.integers(0, 3)):
        lines.append("        if: matrix.python != '3.16-dev'")
    lines.append("        with:")
    lines.append(f"          path: {draw(st.sampled_from(PATHS))}")
    parts = draw(st.lists(st.sampled_from(KEY_PARTS), min_size=1, max_size=4))
    style = draw(st.sampled_from(["plain", "single", "double", "folded"]))
    key = "-".join(parts)
    if style == "plain" and key.startswith(("'", '"')):
        style = "single"
    comment = draw(st.sampled_from(["", "  # the key"])) if style != "folded" else ""
    lines.append(f"          key: {quoted(key, style, '          ').rstrip()}{comment}")
    # Restore keys are usually shorter and shorter prefixes of the key, sometimes not.
    if draw(st.booleans()):
        restore = parts[: draw(st.integers(0, len(parts)))]
    else:
        restore = draw(st.lists(st.sampled_from(KEY_PARTS), min_size=0, max_size=3))
    if restore:
        prefixes = ["-".join(restore[: n + 1]) + "-" for n in range(len(restore))]
        restore_style = draw(st.sampled_from(["block", "single", "double"]))
        if restore_style == "block":
            lines.append("          restore-keys: |")
            lines += [f"            {prefix}" for prefix in reversed(prefixes)]
        else:
            lines.append(f"          restore-keys: {quoted(prefixes[0], restore_style, '')}")
    return lines


@SETTINGS
@given(workflows())
def test_every_offered_fix_verifies(generated: Generated) -> None:
    analysis = analyse(generated.text, as_of=TODAY)
    assert analysis.error is None, (analysis.error, generated.text)
    for finding in analysis.findings:
        if finding.fix is not None:
            assert fix_problems(generated.text, finding, before=analysis) == [], generated.text


@SETTINGS
@given(workflows())
def test_cache_key_findings_carry_a_fix_where_one_is_possible(generated: Generated) -> None:
    findings = analyse(generated.text, as_of=TODAY).findings
    if generated.all_fixable:
        keyed = [f for f in findings if f.rule_id in ("WW001", "WW002")]
        assert all(f.fix is not None for f in keyed), generated.text


@SETTINGS
@given(workflows())
def test_fixing_is_idempotent(generated: Generated) -> None:
    once, _ = fix_all(generated.text, as_of=TODAY)
    assert analyse(once, as_of=TODAY).error is None
    assert fix_all(once, as_of=TODAY) == (once, 0), generated.text
    assert all(f.fix is None for f in analyse(once, as_of=TODAY).findings)


@SETTINGS
@given(workflows(), st.sampled_from(["\n", "\r\n"]))
def test_fix_all_changes_only_what_must_change(generated: Generated, newline: str) -> None:
    text = generated.text.replace("\n", newline)
    fixed, _ = fix_all(text, as_of=TODAY)
    assert changes_beyond_the_fix(text, fixed) == [], text


@SETTINGS
@given(workflows(), st.sampled_from(["\n", "\r\n"]))
def test_each_offered_fix_changes_only_what_must_change(generated: Generated, newline: str) -> None:
    text = generated.text.replace("\n", newline)
    for finding in analyse(text, as_of=TODAY).findings:
        if finding.fix is not None:
            after = apply_edits(text, finding.fix.edits)
            assert changes_beyond_the_fix(text, after) == [], (finding.fix.description, text)


@SETTINGS
@given(workflows(), st.data())
def test_damaged_workflows_never_raise(generated: Generated, data: st.DataObject) -> None:
    text = generated.text
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    filler = data.draw(st.sampled_from(["", "\t", "&a ", "*a", "[", "{", "'", '"', "${{", ": "]))
    analysis = analyse(text[:start] + filler + text[end:], as_of=TODAY)
    for finding in analysis.findings:
        assert finding.span.line >= 1
