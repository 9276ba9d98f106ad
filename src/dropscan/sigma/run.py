"""Evaluate a `SigmaPack` on one parsed record.

The texts of a field are its value as logged (Apache's escaping undone) and, for the
attacker-controlled fields, every decoding view dropscan matches its own signatures on
(`dropscan.decode.views`): a rule written for ``${jndi:`` also sees ``%24%7Bjndi:`` and
``${${lower:j}ndi:``. Keywords (rules without a field) search every text of the event. Only
records run Sigma rules: a line that is not a request has no fields to speak of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..decode import View, views
from ..logformat import Record
from . import tree as t
from .load import SigmaPack, SigmaRule

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


def _texts(value: str | None, vs: Sequence[View] | None) -> t.Texts | None:
    if value is None:
        return None
    out = [value]
    for v in vs if vs is not None else views(value):
        if v.text not in out:
            out.append(v.text)
    return t.Texts(out)


class Event:
    """The Sigma fields of one record, their texts computed once, on first use."""

    def __init__(self, rec: Record, decoded: dict[str, list[View]]):
        self.rec = rec
        self.decoded = decoded  # dropscan field name -> views, where the scanner made them
        self._cache: dict[str, t.Texts | None] = {}

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
            if name == "cs-uri-query":
                self._cache[name] = _texts(r.target, self.decoded.get("target"))
            elif name == "cs-uri-stem":
                self._cache[name] = _texts(r.target.split("?", 1)[0] if r.target is not None else None, None)
            elif name == "cs-user-agent":
                self._cache[name] = _texts(r.user_agent, self.decoded.get("user_agent"))
            elif name == "cs-referer":
                self._cache[name] = _texts(r.referer, self.decoded.get("referer"))
            else:
                value = self._plain(name)
                self._cache[name] = None if value is None else t.Texts([value])
        return self._cache[name]

    def all_texts(self) -> t.Texts:
        out: list[str] = []
        for name in ("cs-method", "cs-uri-query", "cs-version", "sc-status", "cs-referer", "cs-user-agent"):
            texts = self.texts(name)
            out.extend(texts.texts if texts else ())
        return t.Texts(out)


def match_record(pack: SigmaPack, rec: Record, decoded: dict[str, list[View]]) -> tuple[list[SigmaHit], int]:
    """(the rules that match ``rec``, regex timeouts)."""
    event = Event(rec, decoded)
    counter = t.Counter()
    everything = event.all_texts()
    hits = []
    for rule in pack.rules:
        if t.evaluate(rule.condition, event.texts, everything, counter):
            field = next((FINDING_FIELD[f] for f in sorted(rule.fields) if f in FINDING_FIELD), "target")
            hits.append(SigmaHit(rule, field))
    return hits, counter.timeouts
