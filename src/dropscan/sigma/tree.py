"""A compiled Sigma condition: plain dataclasses (picklable) and their evaluation.

A `Field` test holds when *any* text of the field (the value as logged and each decoding view)
passes; a `Keyword` test when any text of the event does. ``not`` negates that, so a filter
that matches a decoded view of a field excludes the event, as a filter on the decoded value
would.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import regex

TIMEOUT = 0.1  # seconds per regex per text, as for signature patterns; a timeout is no match


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: regex.Pattern
    full: bool  # a Sigma string (with wildcards) matches the whole value; `re` searches


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


Test = Regex | Null | Number | Cidr | Exists


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


class Counter:
    """Regex timeouts seen while evaluating one line."""

    __slots__ = ("timeouts",)

    def __init__(self) -> None:
        self.timeouts = 0


def _text_passes(test: Test, text: str, counter: Counter) -> bool:
    if isinstance(test, Regex):
        try:
            m = (test.pattern.fullmatch if test.full else test.pattern.search)(text, timeout=TIMEOUT)
        except TimeoutError:
            counter.timeouts += 1
            return False
        return m is not None
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


def passes(test: Test, texts: Sequence[str] | None, counter: Counter) -> bool:
    """Whether a field whose texts are ``texts`` (None: not logged) passes ``test``."""
    if isinstance(test, Null):
        return not texts or all(t in ("", "-") for t in texts)
    if isinstance(test, Exists):
        return bool(texts) is test.present
    return bool(texts) and any(_text_passes(test, t, counter) for t in texts)


def evaluate(
    node: Node,
    field_texts: Callable[[str], Sequence[str] | None],
    event_texts: Sequence[str],
    counter: Counter,
) -> bool:
    if isinstance(node, AllOf):
        return all(evaluate(n, field_texts, event_texts, counter) for n in node.items)
    if isinstance(node, AnyOf):
        return any(evaluate(n, field_texts, event_texts, counter) for n in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, field_texts, event_texts, counter)
    if isinstance(node, Field):
        return passes(node.test, field_texts(node.name), counter)
    return passes(node.test, event_texts, counter)


def fields_of(node: Node) -> set[str]:
    """The field names a condition reads."""
    if isinstance(node, AllOf | AnyOf):
        return set().union(*(fields_of(n) for n in node.items)) if node.items else set()
    if isinstance(node, Not):
        return fields_of(node.item)
    return {node.name} if isinstance(node, Field) else set()
