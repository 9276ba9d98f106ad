"""Match signatures against the normalised views of a record's fields.

For each field, every view (`dropscan.decode.views`) is checked for the signatures' keywords
(ASCII case folding only, so the fast prefilter, which sees raw ASCII bytes, stays sound); the
patterns of a signature run only on views that contain one of its keywords. A signature whose
patterns cannot name a destination (`names_destinations`) is done at its first match; the
others take every match (up to `MAX_MATCHES_PER_VIEW`) of every pattern on every view.

No clock is read here: a line's result is a function of its bytes, whatever the load, the
number of jobs or the engine. What a line may cost is bounded by counting, not timing, so a
pattern may be compiled the first time a line needs it (`Signature.patterns`) without changing
any result. The load-time lint refuses the pattern shapes that backtrack exponentially;
decoding caps what a pattern sees (`dropscan.decode.MAX_FIELD`); and `Bounds` charges every
pattern call the length of the text it runs on, up to `MATCH_WORK` characters a line. A line
that reaches a bound keeps what was found so far and says so: its `Bounds.cut` names the
bounds, and the scanner reports it as ``unscanned``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .decode import View, views
from .egress import Destination, add_destination, external, extract
from .prefilter import HAVE_HYPERSCAN, compile_literals
from .signatures import Signature, SignatureSet

MAX_MATCHES_PER_VIEW = 64  # matches of one pattern on one view whose destinations are taken
# Characters of pattern input a line may use: the patterns of a signature each cost the length
# of every view they run on. About 1.3 s on the quiet project machine for a line that spends it
# all (estimated: keyword soup in three 256 Ki-character fields, about 200 Mi characters of
# pattern input, took 7.9 s without a bound); an attack line uses well under 0.1 %.
MATCH_WORK = 32 << 20
# Why a line was not scanned to the end (``unscanned.<reason>`` in the finding's rule ids)
MATCH_BUDGET = "match-budget"  # MATCH_WORK spent: later patterns and fields were not tried
MATCH_COUNT = "match-count"  # a pattern that names destinations matched a view more than MAX_MATCHES_PER_VIEW times
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
class Bounds:
    """One line's matching work (characters of pattern input) and the bounds it reached, each
    named once, in the order reached; ``field`` is the field where the first was reached."""

    work: int = 0
    cut: list[str] = field(default_factory=list)
    field: str | None = None
    _current: str | None = None

    def at(self, name: str) -> Callable[[str], None]:
        """The ``note`` callback for decoding field ``name``."""
        self._current = name
        return self.hit

    def hit(self, reason: str) -> None:
        if reason not in self.cut:
            self.cut.append(reason)
        if self.field is None:
            self.field = self._current

    def charge(self, cost: int, name: str) -> bool:
        """Spend ``cost`` characters of pattern input on field ``name``; False, and the budget
        noted as reached there, when they do not fit in what is left of `MATCH_WORK`."""
        if self.work + cost > MATCH_WORK:
            self.at(name)(MATCH_BUDGET)
            return False
        self.work += cost
        return True

    @property
    def spent(self) -> bool:
        return MATCH_BUDGET in self.cut


def names_destinations(sig: Signature) -> bool:
    """Whether a match of ``sig`` can name a destination (`dropscan.egress.extract` reads the
    named groups ``args``, ``url`` and ``host``). For a signature that cannot, the first match
    is the whole result: its other matches, patterns and views are not searched."""
    groups = {"args", "url", "host"}
    return sig.extract != "none" and any(groups.intersection(p.groupindex) for p in sig.patterns)


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
        # names_destinations of each signature, found when its patterns first run (they are
        # compiled on first use: asking at start-up would compile them all)
        self._named: dict[str, bool] = {}

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

    def match_field(self, name: str, text: str, bounds: Bounds, field_views: list[View] | None = None) -> list[Hit]:
        """All signature hits on one field, one `Hit` per signature (first matching view)."""
        kind = field_kind(name)
        hits: dict[str, Hit] = {}
        note = bounds.at(name)
        for view in field_views if field_views is not None else views(text, note):
            cost = len(view.text)
            for sig in self.candidates(view.text, kind):
                named = self._named.get(sig.id)
                if named is None:
                    named = self._named[sig.id] = names_destinations(sig)
                if not named:
                    # one match is all such a signature yields: its first, on the first view
                    if sig.id not in hits:
                        for pat in sig.patterns:
                            if not bounds.charge(cost, name):
                                return list(hits.values())
                            if pat.search(view.text):
                                hits[sig.id] = Hit(sig, name, view)
                                break
                    continue
                dests: list[Destination] = []
                matched = False
                for pat in sig.patterns:
                    if not bounds.charge(cost, name):
                        return list(hits.values())
                    for i, m in enumerate(pat.finditer(view.text)):
                        if i == MAX_MATCHES_PER_VIEW:
                            note(MATCH_COUNT)
                            break
                        matched = True
                        for d in extract(m, sig.extract, sig.default_scheme):
                            # a fetch of the server's own or private address is no egress
                            if sig.category != "ssrf" or external(d):
                                add_destination(dests, d)
                if matched:
                    hit = hits.get(sig.id)
                    if hit is None:
                        hits[sig.id] = Hit(sig, name, view, dests)
                    else:
                        for d in dests:
                            add_destination(hit.destinations, d)
        return list(hits.values())
