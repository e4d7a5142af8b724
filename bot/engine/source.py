"""Offsets, lines and columns of the analysed text, and edits built against it."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from bot.engine.document import YNode
from bot.engine.findings import Span, TextEdit

_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_IGNORE = re.compile(r"#\s*wheelwatch:\s*ignore(?:\[([^\]]*)\])?", re.I)


@dataclass
class Source:
    text: str
    lines: list[str] = field(init=False)
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        # Count lines as the YAML parser does (str.splitlines also breaks at \f and \v),
        # so that ignore comments and pin comments sit on the parser's line numbers.
        self.lines = _LINE_BREAK.split(self.text)
        self.starts = [0]
        for match in _LINE_BREAK.finditer(self.text):
            self.starts.append(match.end())

    @property
    def line_break(self) -> str:
        """The file's line break, for lines a fix adds (``\\n`` when it has none)."""
        match = _LINE_BREAK.search(self.text)
        return match.group() if match else "\n"

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def span(self, start: int, end: int) -> Span:
        end = max(start, end)
        # Block values end at the start of the next line; end them on their own line.
        while end > start and self.text[end - 1] in "\r\n":
            end -= 1
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(line, column, end_line, end_column)

    def node_span(self, node: YNode) -> Span:
        return self.span(node.start, node.end)

    def edit(self, start: int, end: int, replacement: str) -> TextEdit:
        return TextEdit(start, end, replacement, self.span(start, end))

    def ignored_names(self) -> list[tuple[str, int, int]]:
        """Each name listed in an ignore comment, with the comment's line and column."""
        names: list[tuple[str, int, int]] = []
        if not _IGNORE.search(self.text):
            return names
        for number, line in enumerate(self.lines, 1):
            for match in _IGNORE.finditer(line):
                for name in (match.group(1) or "").split(","):
                    if name.strip():
                        names.append((name.strip(), number, match.start() + 1))
        return names

    def suppressed(self, rule_id: str, rule_name: str, first_line: int, last_line: int) -> bool:
        """``# wheelwatch: ignore[WW001]`` (or the rule's name, or no list) on these lines."""
        for number in range(first_line, min(last_line, len(self.lines)) + 1):
            for match in _IGNORE.finditer(self.lines[number - 1]):
                names = match.group(1)
                if names is None:
                    return True
                wanted = {name.strip().lower() for name in names.split(",")}
                if rule_id.lower() in wanted or rule_name.lower() in wanted:
                    return True
        return False
