"""A YAML document as positioned nodes, parsed safely.

Detection works on composed nodes (the C parser when available, ~15x faster than a
round-trip load) and keeps each node's start and end offsets, which is all a text edit
needs. Aliases are expanded into shared objects with a budget, so an alias bomb is an
error rather than an exponential walk.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

MAX_BYTES = 1024 * 1024
# Nodes visited while expanding aliases; a real workflow has a few thousand.
MAX_NODES = 200_000
MAX_DEPTH = 200


class DocumentError(ValueError):
    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(eq=False, slots=True)
class YNode:
    start: int
    end: int
    line: int  # 1-based
    column: int  # 1-based


@dataclass(eq=False, slots=True)
class YScalar(YNode):
    value: str
    tag: str
    style: str | None
    # The value as GitHub Actions sees it (a YAML float 3.10 is the number 3.1).
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.text = self.value
        if self.tag.endswith(":float") and self.style is None and "." in self.value:
            with contextlib.suppress(ValueError):  # .inf and .nan stay as written
                self.text = repr(float(self.value)).removesuffix(".0")
        elif self.tag.endswith(":null"):
            self.text = ""


@dataclass(eq=False, slots=True)
class YSeq(YNode):
    items: list[YValue] = field(default_factory=list)
    flow: bool = False


@dataclass(eq=False, slots=True)
class YMap(YNode):
    pairs: list[tuple[YScalar, YValue]] = field(default_factory=list)
    flow: bool = False

    def get(self, key: str) -> YValue | None:
        found: YValue | None = None
        for name, value in self.pairs:
            if name.value == key:
                found = value
        return found

    def key_node(self, key: str) -> YScalar | None:
        for name, _ in self.pairs:
            if name.value == key:
                return name
        return None

    def scalar(self, key: str) -> YScalar | None:
        value = self.get(key)
        return value if isinstance(value, YScalar) else None

    def mapping(self, key: str) -> YMap | None:
        value = self.get(key)
        return value if isinstance(value, YMap) else None

    def text(self, key: str) -> str | None:
        value = self.scalar(key)
        return None if value is None else value.text

    def keys(self) -> Iterator[str]:
        return (name.value for name, _ in self.pairs)


YValue = YScalar | YSeq | YMap


class _Converter:
    def __init__(self, text: str) -> None:
        self.text = text
        self.budget = MAX_NODES
        self.done: dict[int, YValue] = {}
        self.active: set[int] = set()

    def convert(self, node: Node, depth: int = 0) -> YValue:
        self.budget -= 1
        if self.budget < 0:
            raise DocumentError(
                "the document expands to too many nodes (a YAML alias bomb?)", *_where(node)
            )
        if depth > MAX_DEPTH:
            raise DocumentError(f"nesting deeper than {MAX_DEPTH} levels", *_where(node))
        key = id(node)
        if key in self.active:
            raise DocumentError("a YAML alias refers to itself", *_where(node))
        cached = self.done.get(key)
        if cached is not None and isinstance(cached, YScalar):
            return cached
        start, end = node.start_mark.index, node.end_mark.index
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        result: YValue
        self.active.add(key)
        try:
            if isinstance(node, ScalarNode):
                result = YScalar(
                    start, end, line, column, node.value, str(node.tag), node.style or None
                )
            elif isinstance(node, SequenceNode):
                items = [self.convert(item, depth + 1) for item in node.value]
                result = YSeq(start, end, line, column, items, bool(node.flow_style))
            elif isinstance(node, MappingNode):
                result = YMap(start, end, line, column, [], bool(node.flow_style))
                for name, value in node.value:
                    if name.value == "<<" and str(name.tag).endswith(":merge"):
                        self._merge(result, self.convert(value, depth + 1), name)
                        continue
                    converted = self.convert(name, depth + 1)
                    if not isinstance(converted, YScalar):
                        raise DocumentError("mapping keys must be plain values", *_where(name))
                    result.pairs.append((converted, self.convert(value, depth + 1)))
            else:  # pragma: no cover - ruamel produces only these three
                raise DocumentError("unsupported YAML node", *_where(node))
        finally:
            self.active.discard(key)
        self.done[key] = result
        return result

    @staticmethod
    def _merge(target: YMap, source: YValue, where: Node) -> None:
        sources = source.items if isinstance(source, YSeq) else [source]
        for item in sources:
            if not isinstance(item, YMap):
                raise DocumentError("'<<' must merge a mapping", *_where(where))
            present = set(target.keys())
            target.pairs.extend(pair for pair in item.pairs if pair[0].value not in present)


def _where(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _CoreResolver(VersionedResolver):
    """YAML 1.2 core-schema tags for plain scalars, from one regex per tag instead of
    ruamel's per-character table walk: most of a workflow is names and commands."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)
        if not implicit[0] or (value and value[0] not in _SPECIAL_START):
            return _TAGS["str"]
        for name, pattern in _CORE_PATTERNS:
            if pattern.fullmatch(value):
                return _TAGS[name]
        return _TAGS["str"]


_TAGS = {
    name: Tag(suffix=f"tag:yaml.org,2002:{name}")
    for name in ("str", "null", "bool", "int", "float", "merge")
}
_CORE_PATTERNS = [
    ("null", re.compile(r"~|null|Null|NULL|")),
    ("bool", re.compile(r"true|True|TRUE|false|False|FALSE")),
    ("int", re.compile(r"[-+]?[0-9_]+|0o[0-7_]+|0x[0-9a-fA-F_]+")),
    (
        "float",
        re.compile(
            r"[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
        ),
    ),
    ("merge", re.compile(r"<<")),
]
# First characters of core-schema nulls, booleans, numbers and the merge key.
_SPECIAL_START = frozenset("0123456789+-.~<nNtTfF")


def _yaml() -> YAML:
    try:
        yaml = YAML(typ="safe", pure=False)
    except Exception:  # pragma: no cover - without ruamel.yaml.clib
        yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _CoreResolver
    return yaml


_PARSER = _yaml()


def parse_document(text: str) -> YValue | None:
    """Parse one YAML document; ``None`` for an empty one. Raises ``DocumentError``."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise DocumentError(f"file is larger than {MAX_BYTES // 1024} KiB")
    try:
        try:
            node = _PARSER.compose(text)
        finally:
            # ruamel keeps one record per document parsed; a long-lived parser (the App's)
            # would grow without bound.
            _PARSER.doc_infos.clear()
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        parts = [part for part in (exc.context, exc.problem) if part]
        problem = ", ".join(parts) or "invalid YAML"
        if mark is None:
            raise DocumentError(f"invalid YAML: {problem}") from None
        raise DocumentError(f"invalid YAML: {problem}", mark.line + 1, mark.column + 1) from None
    except RecursionError:
        raise DocumentError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except (YAMLError, ValueError) as exc:
        raise DocumentError(f"invalid YAML: {exc}") from None
    if node is None:
        return None
    return _Converter(text).convert(node)
