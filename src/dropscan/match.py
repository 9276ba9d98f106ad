"""Match signatures against the normalised views of a record's fields.

For each field, every view (`dropscan.decode.views`) is checked for the signatures' keywords
(ASCII case folding only, so the fast prefilter, which sees raw ASCII bytes, stays sound); the
patterns of a signature run only on views that contain one of its keywords, each call under
`MATCH_TIMEOUT`, and all of a line's calls within `LINE_BUDGET`: a line built so that many
patterns each run just under their timeout, on many fields and views, would otherwise cost
minutes. A timeout is counted and the scan goes on; a line whose budget runs out keeps the
hits found so far and counts one timeout more.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from .decode import View, views
from .egress import Destination, add_destination, external, extract
from .prefilter import HAVE_HYPERSCAN, compile_literals
from .signatures import MATCH_TIMEOUT, Signature, SignatureSet

MAX_MATCHES_PER_VIEW = 64
LINE_BUDGET = 1.0  # seconds of pattern matching per line
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
        """Severity rank; a critical egress signature without a destination counts as high, a
        server-side fetch (``ssrf``) without an external destination one step lower."""
        r = self.sig.rank
        if self.sig.egress and not self.destinations and self.sig.severity == "critical":
            r -= 1
        if self.sig.category == "ssrf" and not self.destinations:
            r -= 1
        return r


@dataclass(slots=True)
class MatchStats:
    """A line's regex timeouts, and the deadline of its matching budget."""

    timeouts: int = 0
    deadline: float = math.inf
    exhausted: bool = False

    @classmethod
    def for_line(cls) -> MatchStats:
        return cls(deadline=time.monotonic() + LINE_BUDGET)

    def remaining(self) -> float:
        """Seconds left of the budget; the first time it is found spent counts one timeout."""
        left = self.deadline - time.monotonic()
        if left <= 0 and not self.exhausted:
            self.exhausted = True
            self.timeouts += 1
        return left


class Matcher:
    def __init__(self, sigs: SignatureSet, use_hyperscan: bool = True):
        self.sigs = sigs
        self.keywords = sorted(sigs.keyword_index)
        # hyperscan's caseless literals fold ASCII case only: the same as `ascii_lower` + `in`
        self._db = compile_literals(self.keywords) if use_hyperscan and HAVE_HYPERSCAN else None
        # Without hyperscan: keywords by their first three characters (all of a two-character
        # keyword), so only keywords whose head occurs in a text are searched for; this keeps a
        # pack with thousands of keywords (command vocabularies) cheap on benign text.
        self._by_head: dict[str, list[str]] = {}
        for kw in self.keywords:
            self._by_head.setdefault(kw[:3], []).append(kw)

    def present(self, text: str) -> list[str]:
        """The keywords that occur in ``text`` (ASCII case-insensitively)."""
        if self._db is None:
            low = ascii_lower(text)
            n = len(low)
            heads = {low[i : i + 3] for i in range(n)} | {low[i : i + 2] for i in range(n)}
            by_head = self._by_head
            return sorted(kw for h in heads & by_head.keys() for kw in by_head[h] if kw in low)
        ids: list[int] = []
        self._db.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=lambda i, *_: ids.append(i))
        return [self.keywords[i] for i in sorted(set(ids))]

    def candidates(self, text: str, kind: str) -> list[Signature]:
        """Signatures with a keyword in ``text`` that inspect fields of ``kind``."""
        found: set[int] = set()
        index = self.sigs.keyword_index
        for kw in self.present(text):
            found.update(index[kw])
        sigs = self.sigs.signatures
        return [sigs[i] for i in sorted(found) if kind in sigs[i].fields]

    def match_field(self, name: str, text: str, stats: MatchStats, field_views: list[View] | None = None) -> list[Hit]:
        """All signature hits on one field, one `Hit` per signature (first matching view)."""
        kind = field_kind(name)
        hits: dict[str, Hit] = {}
        for view in field_views if field_views is not None else views(text):
            for sig in self.candidates(view.text, kind):
                dests: list[Destination] = []
                matched = False
                for pat in sig.patterns:
                    left = stats.remaining()
                    if left <= 0:
                        break
                    try:
                        for i, m in enumerate(pat.finditer(view.text, timeout=min(MATCH_TIMEOUT, left))):
                            matched = True
                            for d in extract(m, sig.extract, sig.default_scheme):
                                # a fetch of the server's own or private address is no egress
                                if sig.category != "ssrf" or external(d):
                                    add_destination(dests, d)
                            if i >= MAX_MATCHES_PER_VIEW:
                                break
                    except TimeoutError:
                        if stats.remaining() > 0:  # else counted once as the line's budget
                            stats.timeouts += 1
                if matched:
                    hit = hits.get(sig.id)
                    if hit is None:
                        hits[sig.id] = Hit(sig, name, view, dests)
                    else:
                        for d in dests:
                            add_destination(hit.destinations, d)
                if stats.exhausted:
                    return list(hits.values())
        return list(hits.values())
