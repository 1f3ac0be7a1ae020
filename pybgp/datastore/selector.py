"""Calico label selectors, the subset that BGPPeer and IPPool resources use in practice.

Grammar (Calico's ``libcalico-go/lib/selector`` syntax, restricted)::

    expr    := or
    or      := and ( "||" and )*
    and     := unary ( "&&" unary )*
    unary   := "!" unary | "(" expr ")" | term
    term    := "all()" | "has(" key ")"
             | key "==" string | key "!=" string
             | key "in" "{" string ( "," string )* "}" | key "not in" "{" ... "}"
    string  := '...' | "..."

Anything else (``contains``, ``starts with``, ``global()``, ...) is a :class:`SelectorError`
whose text names the resource the selector came from. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import attrs

__all__ = ["Selector", "SelectorError", "parse_selector"]

Labels = Mapping[str, str]


class SelectorError(ValueError):
    """A selector pybgp cannot read. ``str()`` names the resource and the position."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<all>all\(\s*\))
      | (?P<has>has\(\s*(?P<haskey>[A-Za-z0-9_./-]+)\s*\))
      | (?P<notin>not\s+in\b)
      | (?P<op>==|!=|&&|\|\||!|\(|\)|\{|\}|,)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<word>[A-Za-z0-9_./-]+)
    )""",
    re.VERBOSE,
)


@attrs.frozen
class Selector:
    """A parsed selector: call :meth:`matches` with a node's labels."""

    text: str
    _test: Callable[[Labels], bool] = attrs.field(eq=False, repr=False)

    def matches(self, labels: Labels) -> bool:
        """True when ``labels`` satisfy the selector."""
        return self._test(labels)


def parse_selector(text: str, resource: str) -> Selector:
    """Parse ``text``; ``resource`` (e.g. ``"BGPPeer rr-clients nodeSelector"``) is named in
    the error. An empty selector is an error (callers treat "absent" before calling)."""
    tokens: list[tuple[str, str, int]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        found = _TOKEN.match(stripped, position)
        if found is None or found.end() == position:
            raise SelectorError(
                f"{resource}: cannot read selector {text!r} at character {position + 1}"
                " (supported: all(), has(k), k == 'v', k != 'v', k in {...}, k not in {...},"
                " !, &&, ||, parentheses)"
            )
        kind = found.lastgroup or ""
        if kind == "haskey":
            kind = "has"
        value = found.group(kind) if kind != "has" else found.group("haskey")
        tokens.append((kind, value, found.start(kind if kind != "has" else "has") + 1))
        position = found.end()
    parser = _Parser(tokens, text, resource)
    test = parser.parse()
    return Selector(text, test)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]], text: str, resource: str) -> None:
        self.tokens = tokens
        self.index = 0
        self.text = text
        self.resource = resource

    def error(self, what: str) -> SelectorError:
        if self.index < len(self.tokens):
            where = f"at character {self.tokens[self.index][2]}"
        else:
            where = "at the end"
        return SelectorError(f"{self.resource}: selector {self.text!r}: {what} {where}")

    def peek(self) -> tuple[str, str]:
        if self.index >= len(self.tokens):
            return ("end", "")
        kind, value, _ = self.tokens[self.index]
        return kind, value

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.index += 1
        return token

    def expect_op(self, op: str) -> None:
        kind, value = self.take()
        if (kind, value) != ("op", op):
            self.index -= 1
            raise self.error(f"expected {op!r}")

    def parse(self) -> Callable[[Labels], bool]:
        if not self.tokens:
            raise SelectorError(f"{self.resource}: empty selector")
        test = self.parse_or()
        if self.index != len(self.tokens):
            raise self.error("unexpected text")
        return test

    def parse_or(self) -> Callable[[Labels], bool]:
        parts = [self.parse_and()]
        while self.peek() == ("op", "||"):
            self.take()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda labels: any(part(labels) for part in parts)

    def parse_and(self) -> Callable[[Labels], bool]:
        parts = [self.parse_unary()]
        while self.peek() == ("op", "&&"):
            self.take()
            parts.append(self.parse_unary())
        if len(parts) == 1:
            return parts[0]
        return lambda labels: all(part(labels) for part in parts)

    def parse_unary(self) -> Callable[[Labels], bool]:
        kind, value = self.peek()
        if (kind, value) == ("op", "!"):
            self.take()
            inner = self.parse_unary()
            return lambda labels: not inner(labels)
        if (kind, value) == ("op", "("):
            self.take()
            inner = self.parse_or()
            self.expect_op(")")
            return inner
        if kind == "all":
            self.take()
            return lambda labels: True
        if kind == "has":
            self.take()
            key = value
            return lambda labels: key in labels
        if kind == "word":
            return self.parse_comparison()
        raise self.error("expected all(), has(...), a label name, '!' or '('")

    def parse_comparison(self) -> Callable[[Labels], bool]:
        _, key = self.take()
        kind, value = self.take()
        if (kind, value) in (("op", "=="), ("op", "!=")):
            wanted = self.string()
            if value == "==":
                return lambda labels: labels.get(key) == wanted
            return lambda labels: labels.get(key) != wanted
        if kind == "notin" or (kind, value) == ("word", "in"):
            negate = kind == "notin"
            values = self.string_set()
            if negate:
                return lambda labels: labels.get(key) not in values
            return lambda labels: key in labels and labels[key] in values
        self.index -= 1
        raise self.error(f"expected ==, !=, in or not in after {key!r}")

    def string(self) -> str:
        kind, value = self.take()
        if kind != "string":
            self.index -= 1
            raise self.error("expected a quoted string")
        return value[1:-1]

    def string_set(self) -> frozenset[str]:
        self.expect_op("{")
        values: set[str] = set()
        if self.peek() == ("op", "}"):
            self.take()
            return frozenset()
        while True:
            values.add(self.string())
            kind, value = self.take()
            if (kind, value) == ("op", "}"):
                return frozenset(values)
            if (kind, value) != ("op", ","):
                self.index -= 1
                raise self.error("expected ',' or '}'")
