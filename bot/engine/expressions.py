"""GitHub Actions ``${{ }}`` expressions: find, parse, evaluate with unknowns, list references.

Evaluation is three-valued: a context the engine cannot know (``github.event``, secrets,
step outputs) evaluates to ``UNKNOWN``, and so does anything that depends on it, so an
``if:`` is only treated as false when it is false for certain.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Union


class _Unknown:
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
Value = Union[str, float, bool, None, list["Value"], dict[str, "Value"], _Unknown]  # noqa: UP007 - recursive alias


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Expression:
    """One ``${{ ... }}`` occurrence in a string: offsets of the whole span and its body."""

    start: int
    end: int
    body: str


@functools.lru_cache(maxsize=4096)
def find_expressions(text: str) -> tuple[Expression, ...]:
    return tuple(_find_expressions(text))


def _find_expressions(text: str) -> list[Expression]:
    found: list[Expression] = []
    position = 0
    while True:
        start = text.find("${{", position)
        if start < 0:
            return found
        cursor = start + 3
        quote = False
        while cursor < len(text):
            char = text[cursor]
            if char == "'":
                quote = not quote
            elif not quote and text.startswith("}}", cursor):
                break
            cursor += 1
        else:
            return found
        found.append(Expression(start, cursor + 2, text[start + 3 : cursor].strip()))
        position = cursor + 2


# --- parsing -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?))
    | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\],.*])
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Literal:
    value: Value


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Index:
    target: Node
    key: Node  # a Literal for ``a.b``; ``Literal('*')`` for ``a.*``


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


Node = Literal | Name | Index | Call | Unary | Binary


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"unexpected character {text[position : position + 1]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            raise ExpressionError(f"expected {expected or 'more'}")
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.binary(0)
        leftover = self.peek()
        if leftover is not None:
            raise ExpressionError(f"unexpected {leftover[1]!r}")
        return node

    def binary(self, level: int) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            if token is None or token[0] != "op" or _PRECEDENCE.get(token[1], 0) <= level:
                return left
            op = self.take()[1]
            left = Binary(op, left, self.binary(_PRECEDENCE[op]))

    def unary(self) -> Node:
        token = self.peek()
        if token == ("op", "!"):
            self.take()
            return Unary("!", self.unary())
        return self.postfix(self.primary())

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "string":
            return Literal(text[1:-1].replace("''", "'"))
        if kind == "number":
            return Literal(float(int(text, 16)) if text.lower().startswith("0x") else float(text))
        if text == "(":
            node = self.binary(0)
            self.take(")")
            return node
        if kind == "name":
            lowered = text.lower()
            if lowered in ("true", "false"):
                return Literal(lowered == "true")
            if lowered == "null":
                return Literal(None)
            if self.peek() == ("op", "("):
                self.take()
                args: list[Node] = []
                while self.peek() != ("op", ")"):
                    args.append(self.binary(0))
                    if self.peek() == ("op", ","):
                        self.take()
                self.take(")")
                return Call(lowered, tuple(args))
            return Name(text)
        raise ExpressionError(f"unexpected {text!r}")

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.peek()
            if token == ("op", "."):
                self.take()
                kind, text = self.take()
                if kind not in ("name", "number") and text != "*":
                    raise ExpressionError("expected a property name")
                node = Index(node, Literal(text))
            elif token == ("op", "["):
                self.take()
                key = Literal("*") if self.peek() == ("op", "*") else None
                if key is not None:
                    self.take()
                node = Index(node, key or self.binary(0))
                self.take("]")
            else:
                return node


# GitHub caps an expression's nesting far lower; the cap keeps the parser off the stack limit.
MAX_EXPRESSION_LENGTH = 4096
MAX_NESTING = 64


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """Parse an expression body; the result is immutable, so repeated bodies share it."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError("expression too long")
    depth = deepest = 0
    for char in text:
        depth += (char in "([") - (char in ")]")
        deepest = max(deepest, depth)
    if deepest > MAX_NESTING:
        raise ExpressionError("expression nested too deeply")
    return _Parser(text).parse()


# --- references -------------------------------------------------------------------------


def references(node: Node) -> Iterator[str]:
    """Dotted context paths the expression reads, e.g. ``steps.py.outputs.python-version``.

    Index access by a literal is folded in (``matrix.config[0]`` -> ``matrix.config.0``).
    """
    path = _path(node)
    if path is not None:
        yield path
        return
    if isinstance(node, Index):
        yield from references(node.target)
        yield from references(node.key)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from references(arg)
    elif isinstance(node, Unary):
        yield from references(node.operand)
    elif isinstance(node, Binary):
        yield from references(node.left)
        yield from references(node.right)


def references_in(text: str) -> Iterator[str]:
    """Context paths read by every ``${{ }}`` in ``text``; unparseable ones are skipped."""
    for expression in find_expressions(text):
        try:
            yield from references(parse(expression.body))
        except ExpressionError:
            continue


def _path(node: Node) -> str | None:
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Index) and isinstance(node.key, Literal):
        base = _path(node.target)
        if base is None:
            return None
        key = node.key.value
        if isinstance(key, float) and key.is_integer():
            key = str(int(key))
        return f"{base}.{key}"
    return None


def calls(node: Node) -> Iterator[Call]:
    if isinstance(node, Call):
        yield node
        for arg in node.args:
            yield from calls(arg)
    elif isinstance(node, Index):
        yield from calls(node.target)
        yield from calls(node.key)
    elif isinstance(node, Unary):
        yield from calls(node.operand)
    elif isinstance(node, Binary):
        yield from calls(node.left)
        yield from calls(node.right)


# --- evaluation -------------------------------------------------------------------------


def to_string(value: Value) -> str | _Unknown:
    if value is UNKNOWN:
        return UNKNOWN
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    assert isinstance(value, str)
    return value


def truthy(value: Value) -> bool | _Unknown:
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, list | dict):
        return True
    return bool(value)


def _number(value: Value) -> float | _Unknown:
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if value is None:
        return 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip() or "0")
        except ValueError:
            return float("nan")
    return float("nan")


def _equal(left: Value, right: Value) -> bool | _Unknown:
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is type(right):
        return left == right
    if isinstance(left, list | dict) or isinstance(right, list | dict):
        return False
    return _number(left) == _number(right)


class Evaluator:
    """Evaluates parsed expressions; ``contexts`` maps top-level names to values."""

    def __init__(self, contexts: Mapping[str, Value]) -> None:
        self.contexts = {name.lower(): value for name, value in contexts.items()}

    def evaluate(self, node: Node) -> Value:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            return self.contexts.get(node.name.lower(), UNKNOWN)
        if isinstance(node, Index):
            return self._index(self.evaluate(node.target), self.evaluate(node.key))
        if isinstance(node, Unary):
            value = truthy(self.evaluate(node.operand))
            return UNKNOWN if value is UNKNOWN else not value
        if isinstance(node, Binary):
            return self._binary(node)
        return self._call(node)

    @staticmethod
    def _index(target: Value, key: Value) -> Value:
        if target is UNKNOWN or key is UNKNOWN:
            return UNKNOWN
        if isinstance(target, dict):
            if key == "*":
                return list(target.values())
            wanted = to_string(key)
            for name, value in target.items():
                if isinstance(wanted, str) and name.lower() == wanted.lower():
                    return value
            return None
        if isinstance(target, list):
            if key == "*":
                return target
            number = _number(key)
            if isinstance(number, float) and number.is_integer() and 0 <= number < len(target):
                return target[int(number)]
            return None
        return None

    def _binary(self, node: Binary) -> Value:
        left = self.evaluate(node.left)
        if node.op in ("&&", "||"):
            condition = truthy(left)
            if condition is UNKNOWN:
                right = self.evaluate(node.right)
                # ``unknown && false`` is false and ``unknown || true`` is true whatever the left.
                if node.op == "&&" and truthy(right) is False:
                    return False
                if node.op == "||" and truthy(right) is True:
                    return right
                return UNKNOWN
            if node.op == "&&":
                return self.evaluate(node.right) if condition else left
            return left if condition else self.evaluate(node.right)
        right = self.evaluate(node.right)
        if node.op == "==":
            return _equal(left, right)
        if node.op == "!=":
            equal = _equal(left, right)
            return UNKNOWN if equal is UNKNOWN else not equal
        a, b = _number(left), _number(right)
        if isinstance(left, str) and isinstance(right, str):
            a, b = left.lower(), right.lower()  # type: ignore[assignment]
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        assert not isinstance(a, _Unknown) and not isinstance(b, _Unknown)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[node.op]

    def _call(self, node: Call) -> Value:
        name = node.function
        if name in ("success", "always", "failure", "cancelled"):
            return {"success": True, "always": True}.get(name, UNKNOWN)
        args = [self.evaluate(arg) for arg in node.args]
        if any(arg is UNKNOWN for arg in args) or name in ("hashfiles",):
            return UNKNOWN
        text = [to_string(arg) for arg in args]
        if name in ("startswith", "endswith") and len(text) == 2:
            a, b = (str(t).lower() for t in text)
            return a.startswith(b) if name == "startswith" else a.endswith(b)
        if name == "contains" and len(args) == 2:
            haystack, needle = args
            if isinstance(haystack, list):
                return any(_equal(item, needle) is True for item in haystack)
            return str(text[1]).lower() in str(text[0]).lower()
        if name == "format" and text:
            return _format(str(text[0]), [str(t) for t in text[1:]])
        if name == "join" and args:
            separator = str(text[1]) if len(text) > 1 else ","
            items = args[0] if isinstance(args[0], list) else [args[0]]
            return separator.join(str(to_string(item)) for item in items)
        if name == "fromjson" and len(args) == 1 and isinstance(args[0], str):
            try:
                return _from_json(json.loads(args[0]))
            except (ValueError, RecursionError):
                return UNKNOWN
        if name == "tojson" and len(args) == 1:
            return json.dumps(args[0])
        return UNKNOWN


def _format(template: str, args: list[str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        index = int(match.group(1))
        return args[index] if index < len(args) else ""

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", substitute, template)


def _from_json(value: object) -> Value:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _from_json(v) for k, v in value.items()}
    return UNKNOWN


def evaluate_text(text: str, evaluator: Evaluator) -> Value:
    """Evaluate a whole ``${{ }}``-only string to its value (not stringified)."""
    expressions = find_expressions(text)
    if len(expressions) == 1 and text.strip() == text[expressions[0].start : expressions[0].end]:
        try:
            return evaluator.evaluate(parse(expressions[0].body))
        except ExpressionError:
            return UNKNOWN
    return render(text, evaluator)


def render(text: str, evaluator: Evaluator, unknown: str | None = None) -> str | _Unknown:
    """Substitute every ``${{ }}`` in ``text``. An unknown value makes the result UNKNOWN,
    or, when ``unknown`` is given, stands in the text as that placeholder."""
    pieces: list[str] = []
    cursor = 0
    for expression in find_expressions(text):
        pieces.append(text[cursor : expression.start])
        try:
            value = to_string(evaluator.evaluate(parse(expression.body)))
        except ExpressionError:
            value = UNKNOWN
        if value is UNKNOWN:
            if unknown is None:
                return UNKNOWN
            value = unknown
        assert isinstance(value, str)
        pieces.append(value)
        cursor = expression.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def condition(text: str, evaluator: Evaluator) -> bool | _Unknown:
    """Evaluate an ``if:`` value, with or without ``${{ }}``."""
    stripped = text.strip()
    expressions = find_expressions(stripped)
    if expressions and not (
        expressions[0].start == 0 and expressions[0].end == len(stripped) and len(expressions) == 1
    ):
        # Text around an expression makes a non-empty string: always true.
        return True
    body = expressions[0].body if expressions else stripped
    try:
        return truthy(evaluator.evaluate(parse(body)))
    except ExpressionError:
        return UNKNOWN
