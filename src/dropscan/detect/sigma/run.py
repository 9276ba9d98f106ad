"""Evaluate a `SigmaPack` on one parsed record.

The texts of a field are its value as logged (Apache's escaping undone) and, for the
attacker-controlled fields, every decoding view dropscan matches its own signatures on
(`dropscan.detect.decode.views`): a rule written for ``${jndi:`` also sees ``%24%7Bjndi:`` and
``${${lower:j}ndi:``. Keywords (rules without a field) search every text of the event. Only
records run Sigma rules: a line that is not a request has no fields to speak of.

No clock is read: the rules share the line's counted bounds with the signatures
(`dropscan.detect.match.Bounds`). A text is cut at `dropscan.detect.decode.MAX_FIELD` characters, as every
view is (``field-cut``), and each wildcard or ``re`` test is charged the length of the texts it
runs on (``match-budget``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ...formats.logformat import Record
from ..decode import FIELD_CUT, MAX_FIELD, View, views
from ..match import Bounds
from . import tree as t
from .load import FIELDS, SigmaPack, SigmaRule

# the Sigma field -> dropscan's field name in a Finding
FINDING_FIELD = {
    "cs-uri-query": "target",
    "cs-uri-stem": "target",
    "cs-user-agent": "user_agent",
    "cs-referer": "referer",
}


@dataclass(frozen=True, slots=True)
class SigmaHit:
    rule: SigmaRule
    field: str  # dropscan's field name: target, user_agent or referer (target for keywords)


def _finding_field(name: str | None) -> str:
    return FINDING_FIELD.get(name or "", "target")


def _texts(value: str | None, vs: Sequence[View] | None, cut: Callable[[], None]) -> t.Texts | None:
    if value is None:
        return None
    if len(value) > MAX_FIELD:
        cut()
        value = value[:MAX_FIELD]
    out = [value]
    for v in vs if vs is not None else views(value):
        if v.text not in out:
            out.append(v.text)
    return t.Texts(out)


class Event:
    """The Sigma fields of one record, their texts computed once, on first use."""

    def __init__(self, rec: Record, decoded: dict[str, list[View]], bounds: Bounds):
        self.rec = rec
        self.decoded = decoded  # dropscan field name -> views, where the scanner made them
        self.bounds = bounds
        self._cache: dict[str, t.Texts | None] = {}
        self._folded: str | None = None

    def _plain(self, name: str) -> str | None:
        r = self.rec
        value = {
            "cs-method": r.method,
            "cs-version": r.protocol,
            "sc-status": r.status,
            "sc-bytes": r.bytes,
            "c-ip": r.client,
            "cs-host": r.vhost,
        }[name]
        return None if value is None else str(value)

    def texts(self, name: str) -> t.Texts | None:
        if name not in self._cache:
            r = self.rec

            def cut() -> None:
                self.bounds.at(_finding_field(name))(FIELD_CUT)

            if name == "cs-uri-query":
                self._cache[name] = _texts(r.target, self.decoded.get("target"), cut)
            elif name == "cs-uri-stem":
                self._cache[name] = _texts(r.target.split("?", 1)[0] if r.target is not None else None, None, cut)
            elif name == "cs-user-agent":
                self._cache[name] = _texts(r.user_agent, self.decoded.get("user_agent"), cut)
            elif name == "cs-referer":
                self._cache[name] = _texts(r.referer, self.decoded.get("referer"), cut)
            else:
                self._cache[name] = _texts(self._plain(name), (), cut)
        return self._cache[name]

    def folded(self) -> str:
        """Every text of every field, ASCII case folded, in one string: what a rule's literals
        (`SigmaRule.required`) are looked for in."""
        if self._folded is None:
            texts = (self.texts(name) for name in FIELDS)
            self._folded = "\0".join(x for ts in texts if ts is not None for x in ts.lower)
        return self._folded

    def all_texts(self) -> t.Texts:
        out: list[str] = []
        for name in ("cs-method", "cs-uri-query", "cs-version", "sc-status", "cs-referer", "cs-user-agent"):
            texts = self.texts(name)
            out.extend(texts.texts if texts else ())
        return t.Texts(out)


def match_record(pack: SigmaPack, rec: Record, decoded: dict[str, list[View]], bounds: Bounds) -> list[SigmaHit]:
    """The rules that match ``rec``; the bounds reached are noted in ``bounds``."""
    event = Event(rec, decoded, bounds)
    everything = event.all_texts()

    def charge(cost: int, name: str | None) -> bool:
        return bounds.charge(cost, _finding_field(name))

    hits = []
    for rule in pack.rules:
        # a record without any of the rule's literals cannot match it: the rule is not run (nor
        # charged), so a line the prefilter passes over costs the full path no budget either
        if rule.required is not None and not any(k in event.folded() for k in rule.required):
            continue
        if t.evaluate(rule.condition, event.texts, everything, charge):
            field = next((FINDING_FIELD[f] for f in sorted(rule.fields) if f in FINDING_FIELD), "target")
            hits.append(SigmaHit(rule, field))
    return hits
