"""Match signatures against the normalised views of a record's fields.

For each field, every view (`dropscan.decode.views`) is checked for the signatures' keywords
(ASCII case folding only, so the fast prefilter, which sees raw ASCII bytes, stays sound); the
patterns of a signature run only on views that contain one of its keywords, each call under
`MATCH_TIMEOUT`. A timeout is counted and the scan goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .decode import View, views
from .egress import Destination, extract
from .signatures import MATCH_TIMEOUT, Signature, SignatureSet

MAX_MATCHES_PER_VIEW = 64
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(s: str) -> str:
    return s.translate(_ASCII_LOWER)


def field_kind(name: str) -> str:
    return name if name in ("target", "user_agent", "referer", "line") else "header"


@dataclass(slots=True)
class Hit:
    sig: Signature
    field: str
    view: View
    destinations: list[Destination] = field(default_factory=list)

    @property
    def rank(self) -> int:
        """Severity rank; a critical egress signature without a destination counts as high."""
        r = self.sig.rank
        if self.sig.egress and not self.destinations and self.sig.severity == "critical":
            r -= 1
        return r


@dataclass(slots=True)
class MatchStats:
    timeouts: int = 0


class Matcher:
    def __init__(self, sigs: SignatureSet):
        self.sigs = sigs
        self.keywords = sorted(sigs.keyword_index)
        # Keywords by their first three characters (all of a two-character keyword): only the
        # keywords whose head occurs in a text are searched for, which keeps a pack with
        # thousands of keywords (command vocabularies) cheap on benign text.
        self._by_head: dict[str, list[str]] = {}
        for kw in self.keywords:
            self._by_head.setdefault(kw[:3], []).append(kw)

    def present(self, low_text: str) -> list[str]:
        """The keywords that occur in ``low_text``."""
        n = len(low_text)
        heads = {low_text[i : i + 3] for i in range(n)} | {low_text[i : i + 2] for i in range(n)}
        by_head = self._by_head
        return [kw for h in heads & by_head.keys() for kw in by_head[h] if kw in low_text]

    def candidates(self, low_text: str, kind: str) -> list[Signature]:
        """Signatures with a keyword in ``low_text`` that inspect fields of ``kind``."""
        found: set[int] = set()
        index = self.sigs.keyword_index
        for kw in self.present(low_text):
            found.update(index[kw])
        sigs = self.sigs.signatures
        return [sigs[i] for i in sorted(found) if kind in sigs[i].fields]

    def match_field(self, name: str, text: str, stats: MatchStats, field_views: list[View] | None = None) -> list[Hit]:
        """All signature hits on one field, one `Hit` per signature (first matching view)."""
        kind = field_kind(name)
        hits: dict[str, Hit] = {}
        for view in field_views if field_views is not None else views(text):
            for sig in self.candidates(ascii_lower(view.text), kind):
                dests: list[Destination] = []
                matched = False
                for pat in sig.patterns:
                    try:
                        for i, m in enumerate(pat.finditer(view.text, timeout=MATCH_TIMEOUT)):
                            matched = True
                            for d in extract(m, sig.extract, sig.default_scheme):
                                if d not in dests:
                                    dests.append(d)
                            if i >= MAX_MATCHES_PER_VIEW:
                                break
                    except TimeoutError:
                        stats.timeouts += 1
                if not matched:
                    continue
                hit = hits.get(sig.id)
                if hit is None:
                    hits[sig.id] = Hit(sig, name, view, dests)
                else:
                    hit.destinations.extend(d for d in dests if d not in hit.destinations)
        return list(hits.values())
