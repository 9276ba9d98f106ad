"""A compiled Sigma condition: plain dataclasses (picklable) and their evaluation.

A `Field` test holds when *any* text of the field (the value as logged and each decoding view)
passes; a `Keyword` test when any text of the event does. ``not`` negates that, so a filter
that matches a decoded view of a field excludes the event, as a filter on the decoded value
would.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

import regex

from .glob import Glob

# No clock is read here: a line's result is a function of its bytes. Wildcard values run as
# `Glob`s (linear in the text, no backtracking); a ``re`` value passed the signature pack's
# load-time lint; both are charged the length of each text they run on to the line's matching
# budget (`dropscan.detect.match.Bounds`), and a test the budget cannot pay for is no match (the line
# is then reported ``unscanned.match-budget``).
Charge = Callable[[int, str | None], bool]  # (characters, Sigma field or None) -> within budget?
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """Lower-case ASCII letters only (see `Texts.lower`)."""
    return text.translate(ASCII_LOWER)


@dataclass(frozen=True, slots=True)
class Regex:
    """A ``re`` value (linted when loaded), searched for in the text."""

    pattern: regex.Pattern


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A Sigma string with inner wildcards: the whole text (every text, for a keyword) matches
    ``glob``, whose literal characters are lower-cased unless ``cased``."""

    glob: Glob
    cased: bool
    literal: str | None = None  # the longest wildcard-free part: every match holds it


@dataclass(frozen=True, slots=True)
class Literal:
    """A Sigma string without inner wildcards: equality, prefix, suffix or substring, which
    plain string operations answer far faster than a regex (most Sigma values are these)."""

    mode: str  # equals, startswith, endswith, contains
    value: str  # lower-cased unless ``cased``
    cased: bool = False


@dataclass(frozen=True, slots=True)
class Literals:
    """Several `Literal` tests of one mode and case on one field, OR-ed (Sigma's value lists):
    one search of an alternation of the escaped strings instead of a test per string."""

    mode: str
    values: tuple[str, ...]
    cased: bool
    pattern: re.Pattern

    @classmethod
    def of(cls, tests: list[Literal]) -> Literals:
        first = tests[0]
        alt = "|".join(re.escape(t.value) for t in sorted(tests, key=lambda t: (-len(t.value), t.value)))
        body = {"contains": f"(?:{alt})", "startswith": f"\\A(?:{alt})", "endswith": f"(?:{alt})\\Z"}
        return cls(
            first.mode,
            tuple(t.value for t in tests),
            first.cased,
            re.compile(body.get(first.mode, f"\\A(?:{alt})\\Z"), re.DOTALL),
        )


@dataclass(frozen=True, slots=True)
class Null:
    """``field: null``: the field is empty or was logged as ``-``."""


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    op: str = "eq"  # eq, lt, lte, gt, gte


@dataclass(frozen=True, slots=True)
class Cidr:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Exists:
    present: bool


Test = Literal | Literals | Regex | Wildcard | Null | Number | Cidr | Exists


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    test: Test


@dataclass(frozen=True, slots=True)
class Keyword:
    test: Test


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Field | Keyword | AllOf | AnyOf | Not


class Texts:
    """The texts of one field (as logged, then each decoding view), lower-cased on demand."""

    __slots__ = ("_lower", "texts")

    def __init__(self, texts: list[str]):
        self.texts = texts
        self._lower: list[str] | None = None

    @property
    def lower(self) -> list[str]:
        """ASCII letters folded, nothing else: like the prefilter's caseless mode, so no
        Unicode case trick (``\u212a`` is K) can make a rule see what the prefilter did not."""
        if self._lower is None:
            self._lower = [fold(x) for x in self.texts]
        return self._lower


def _literal(test: Literal, texts: Texts) -> bool:
    v = test.value
    for x in texts.texts if test.cased else texts.lower:
        if test.mode == "contains":
            if v in x:
                return True
        elif test.mode == "startswith":
            if x.startswith(v):
                return True
        elif test.mode == "endswith":
            if x.endswith(v):
                return True
        elif x == v:
            return True
    return False


def _text_passes(test: Test, text: str) -> bool:
    if isinstance(test, Number):
        try:
            n = float(text)
        except ValueError:
            return False
        return {
            "eq": n == test.value,
            "lt": n < test.value,
            "lte": n <= test.value,
            "gt": n > test.value,
            "gte": n >= test.value,
        }[test.op]
    if isinstance(test, Cidr):
        try:
            return ipaddress.ip_address(text) in test.network
        except ValueError:
            return False
    return False


def passes(test: Test, texts: Texts | None, charge: Charge, name: str | None = None) -> bool:
    """Whether field ``name`` (None: a keyword), whose texts are ``texts`` (None: not logged),
    passes ``test``; a `Regex` or `Wildcard` is charged to the line's budget per text."""
    if isinstance(test, Literal):
        return texts is not None and _literal(test, texts)
    if isinstance(test, Literals):
        search = test.pattern.search
        return texts is not None and any(search(x) for x in (texts.texts if test.cased else texts.lower))
    if isinstance(test, Null):
        return texts is None or all(t in ("", "-") for t in texts.texts)
    if isinstance(test, Exists):
        return (texts is not None) is test.present
    if texts is None:
        return False
    if isinstance(test, Wildcard):
        match = test.glob.match
        return any(charge(len(x), name) and match(x) for x in (texts.texts if test.cased else texts.lower))
    if isinstance(test, Regex):
        search = test.pattern.search
        return any(charge(len(x), name) and search(x) is not None for x in texts.texts)
    return any(_text_passes(test, t) for t in texts.texts)


def evaluate(
    node: Node,
    field_texts: Callable[[str], Texts | None],
    event_texts: Texts,
    charge: Charge,
) -> bool:
    if isinstance(node, AllOf):
        return all(evaluate(n, field_texts, event_texts, charge) for n in node.items)
    if isinstance(node, AnyOf):
        return any(evaluate(n, field_texts, event_texts, charge) for n in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, field_texts, event_texts, charge)
    if isinstance(node, Field):
        return passes(node.test, field_texts(node.name), charge, node.name)
    return passes(node.test, event_texts, charge)


def fields_of(node: Node) -> set[str]:
    """The field names a condition reads."""
    if isinstance(node, AllOf | AnyOf):
        return set().union(*(fields_of(n) for n in node.items)) if node.items else set()
    if isinstance(node, Not):
        return fields_of(node.item)
    return {node.name} if isinstance(node, Field) else set()


def merge_literals(items: tuple[Node, ...]) -> tuple[Node, ...]:
    """The children of an OR with every group of `Literal` tests on one field (or on the
    keywords) in one mode and case merged into one `Literals` test."""
    groups: dict[tuple, list[Literal]] = {}
    out: list[Node | tuple] = []
    for n in items:
        test = n.test if isinstance(n, Field | Keyword) else None
        if isinstance(test, Literal):
            key = (n.name if isinstance(n, Field) else None, test.mode, test.cased)
            if key not in groups:
                groups[key] = []
                out.append(key)
            groups[key].append(test)
        else:
            out.append(n)
    merged: list[Node] = []
    for x in out:
        if isinstance(x, tuple):
            tests = groups[x]
            test: Test = tests[0] if len(tests) == 1 else Literals.of(tests)
            merged.append(Field(x[0], test) if x[0] is not None else Keyword(test))
        else:
            merged.append(x)
    return tuple(merged)


UNSELECTIVE = frozenset({"cs-method", "cs-version"})


def _keyword(value: str) -> frozenset[str] | None:
    """A literal as a prefilter keyword: ASCII (the prefilter folds ASCII case only), 2+ chars.
    Trailing spaces are dropped: the prefilter reads a keyword's trailing space as "an argument
    follows", which a Sigma value does not promise ("select " may end the target)."""
    v = fold(value).rstrip(" ")
    return frozenset([v]) if len(v) >= 2 and v.isascii() else None


def required(node: Node) -> frozenset[str] | None:
    """Literals of which at least one appears (ASCII case folded) in some text of every event
    ``node`` matches, or None when there is no such set (a regex, a number, a ``not``...)."""
    if isinstance(node, Field) and node.name in UNSELECTIVE:
        return None  # every request has a method and a protocol: no use to a prefilter
    if isinstance(node, Field | Keyword):
        test = node.test
        if isinstance(test, Literal):
            return _keyword(test.value)
        if isinstance(test, Literals):
            parts = [_keyword(v) for v in test.values]
            return None if any(p is None for p in parts) else frozenset().union(*parts)
        if isinstance(test, Wildcard) and test.literal is not None:
            return _keyword(test.literal)
        return None
    if isinstance(node, AllOf):  # any child's set will do: take the one with the longest literals
        options = [r for r in (required(n) for n in node.items) if r is not None]
        return min(options, key=lambda r: (-min(map(len, r)), len(r), sorted(r))) if options else None
    if isinstance(node, AnyOf):
        parts = [required(n) for n in node.items]
        return None if not parts or any(p is None for p in parts) else frozenset().union(*parts)
    return None
