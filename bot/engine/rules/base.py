"""What a rule is: one class that owns its id, name, documentation, the steps it wants, its
check, its messages and its fix proposal.

A rule's documentation is its class docstring, in Markdown: the first line is its summary,
then prose (what it finds, why, what to do), then ``Unsafe:`` and ``Fixed:`` YAML blocks,
and optionally further patterns, each under a ``### title`` with its own pair of blocks.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from bot.engine.findings import Fix
from bot.engine.issues import Issue
from bot.engine.simulation import Context, SimulatedRow
from bot.engine.workflow import Job, Step

DOCS_URL = "https://github.com/wheelwatch/wheelwatch/blob/main/docs/rules.md"

# Why every rule matters, said once: the App's review and SARIF show it after each rule's
# own explanation, and the rules page says it above them all.
WHY = (
    "CPython may change its ABI between alphas, betas and release candidates of one minor "
    "version, yet every such build produces wheels with the same tag (`cp316`). pip and uv "
    "reuse a cached wheel whenever its tag matches, so a C extension built against one "
    "pre-release and restored under the next one loads against the wrong ABI and can crash "
    "the interpreter (urllib3's CI died with SIGSEGV this way on 3.11.0a3). The cache key is "
    "the only guard: it must name the exact interpreter build."
)


# Why an action pinned to a commit gets no upgrade fix.
PINNED = "the action is pinned to a commit: choose the release to pin (and its commit) yourself"


@dataclass(frozen=True)
class Example:
    """One pattern a rule finds: a YAML snippet it flags and the same snippet fixed."""

    title: str
    unsafe: str
    fixed: str


class Rule:
    """The base of every rule; subclasses are documented by their docstring."""

    id: ClassVar[str]
    name: ClassVar[str]
    # The fix the rule proposes, in a few words, for the README's table ("" for none).
    fix_summary: ClassVar[str] = ""

    def wants(self, step: Step) -> bool:
        """Is this a step the rule checks? Jobs with no such step are not simulated."""
        raise NotImplementedError

    def check(self, job: Job, step: Step, row: SimulatedRow, context: Context) -> Iterator[Issue]:
        """The issues at ``step`` in one simulated matrix row (one that can run a
        pre-release); the engine merges the same issue found in several rows."""
        raise NotImplementedError

    def propose(self, issue: Issue, context: Context, alongside: Sequence[Issue]) -> Fix | None:
        """A fix for ``issue`` as text edits, or ``None``; the engine offers it only after
        proving it (applied, the file parses, the issue is gone, nothing new appears).
        ``alongside``: every issue reported in the same job (this one included)."""
        return None

    # --- documentation, read from the docstring ---------------------------------------------

    @property
    def summary(self) -> str:
        return self._doc.split("\n", 1)[0].strip().rstrip(".")

    @property
    def documentation(self) -> str:
        """The docstring after its summary line: prose, then the examples."""
        return self._doc.split("\n", 1)[1].strip() if "\n" in self._doc else ""

    @property
    def explanation(self) -> str:
        """The prose alone, as one paragraph, followed by why the hazard matters."""
        return " ".join(self._parts[0].split()) + " " + WHY

    @property
    def snippets(self) -> str:
        """The documentation after its prose: the Unsafe and Fixed snippets, in Markdown."""
        return self._parts[1]

    @property
    def _parts(self) -> tuple[str, str]:
        parts = re.split(r"^(?=Unsafe:|### )", self.documentation, maxsplit=1, flags=re.M)
        return parts[0].strip(), parts[1].strip() if len(parts) > 1 else ""

    @property
    def examples(self) -> tuple[Example, ...]:
        """Each documented pattern: the main one, titled by the summary, then the others."""
        sections = re.split(r"^### (.+)$", self.documentation, flags=re.M)
        titled = [(self.summary, sections[0])]
        titled += list(zip(sections[1::2], sections[2::2], strict=True))
        found = []
        for title, body in titled:
            blocks = re.findall(r"^(Unsafe|Fixed):\s*```yaml\n(.*?)^```", body, re.M | re.S)
            pairs = dict(blocks)
            if "Unsafe" in pairs and "Fixed" in pairs:
                found.append(Example(title.strip(), pairs["Unsafe"], pairs["Fixed"]))
        return tuple(found)

    @property
    def fragment(self) -> str:
        """The rule's fragment identifier on the rules page."""
        return f"{self.id.lower()}-{self.name}"

    @property
    def docs_url(self) -> str:
        return f"{DOCS_URL}#{self.fragment}"

    @property
    def _doc(self) -> str:
        return inspect.cleandoc(type(self).__doc__ or "")
