"""The matcher stops early only where nothing more can come of it.

A signature whose patterns cannot name a destination is done at its first match: its other
patterns, matches and views are not searched. Its hit must still be the one a search of every
pattern on every view gives: the same signature, on the first view where any pattern matches,
with no destination.
"""

from __future__ import annotations

import pytest

from dropscan.detect.decode import views
from dropscan.detect.egress import extract
from dropscan.detect.match import Bounds, Matcher, field_kind, names_destinations
from dropscan.engine import default_signatures

SIGS = default_signatures()
MATCHER = Matcher(SIGS)


def _every_match(sig, name, text):
    """(view, destinations) of every match of every pattern of ``sig`` on every view of ``text``
    that holds one of its keywords."""
    kind = field_kind(name)
    return [
        (v, extract(m, sig.extract, sig.default_scheme))
        for v in views(text)
        if sig in MATCHER.candidates(v.text, kind)
        for pat in sig.patterns
        for m in pat.finditer(v.text)
    ]


@pytest.mark.parametrize("sig", SIGS.signatures, ids=lambda s: s.id)
def test_a_signature_stops_at_its_first_match_only_when_no_destination_can_follow(sig):
    for ex in (*sig.matches, *sig.no_matches):
        everything = _every_match(sig, ex.field, ex.text)
        if any(dests for _v, dests in everything):
            assert names_destinations(sig), ex.text
        if not names_destinations(sig):
            hits = [h for h in MATCHER.match_field(ex.field, ex.text, Bounds()) if h.sig is sig]
            want = [(everything[0][0], [])] if everything else []
            assert [(h.view, h.destinations) for h in hits] == want, ex.text
    assert not sig.matches or any(_every_match(sig, ex.field, ex.text) for ex in sig.matches)


def test_every_egress_signature_can_name_a_destination():
    assert [s.id for s in SIGS.signatures if s.egress and not names_destinations(s)] == []
