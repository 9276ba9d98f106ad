"""The corpus figures hold: per source, in-scope recall and benign lines flagged, as
benchmarks/corpus_eval.py measures them (docs/detection.md has the table and the scope)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import CORPUS, ROOT
from dropscan.detect.scanner import Scanner

_spec = importlib.util.spec_from_file_location("corpus_eval", ROOT / "benchmarks" / "corpus_eval.py")
corpus_eval = importlib.util.module_from_spec(_spec)
sys.modules["corpus_eval"] = corpus_eval
_spec.loader.exec_module(corpus_eval)


@pytest.fixture(scope="module")
def evaluated(sigs):
    if not CORPUS.is_dir():
        pytest.skip(f"external corpus not found at {CORPUS}")
    return corpus_eval.evaluate_all(CORPUS, Scanner(sigs))  # the fast path where hyperscan exists


@pytest.fixture(scope="module")
def figures(evaluated):
    return evaluated[0]


@pytest.fixture(scope="module")
def egress(evaluated):
    return evaluated[1]


def test_every_source_but_the_crs_meets_the_target(figures):
    for name, f in figures.items():
        if name != "coreruleset":
            assert f.meets_target(), (name, f.recall, f.flagged_share, [c.raw["text"][:80] for c in f.misses])


def test_crs_does_not_regress(figures):
    """The CRS regression tests exercise word lists (ansible-vault, chef report, tilde and glob
    fragments) that dropscan does not chase; its figure is a floor, not the target."""
    crs = figures["coreruleset"]
    assert crs.recall >= 0.76
    # the one flagged benign case is disputed: '<?xphp system('id'); ?>' (low-confidence label)
    assert [c.label_confidence for c in crs.flagged] == ["low"]


def test_callbacks_have_their_destinations(egress):
    """afrog-oob: every request that makes the server call out is found with the destinations it
    names: DNS callbacks by name (scheme dns), server-side fetches, run-time names as wildcards
    (the issue's targets: recall >= 0.97, exact >= 0.95, DNS >= 0.90, SSRF >= 0.80)."""
    e = egress["afrog-oob"]
    assert e.labelled == 28
    assert e.found / e.labelled >= 0.97
    assert e.exact / e.labelled >= 0.95, [(c.raw["text"][:80], w, g) for c, w, g in e.wrong]
    dns_cases, dns_found, dns_labelled, dns_right = e.dns
    assert dns_cases == dns_labelled == 9 and dns_found / dns_cases >= 0.9 and dns_right / dns_cases >= 0.9
    ssrf_cases, ssrf_found, ssrf_labelled, ssrf_right = e.ssrf
    assert ssrf_cases == ssrf_labelled == 9 and ssrf_found / ssrf_cases >= 0.8 and ssrf_right / ssrf_cases >= 0.8


@pytest.mark.parametrize("name", ["nielsbasjes-hackers-access-log", "elastic-apache-logs"])
def test_real_benign_logs_stay_quiet(egress, name):
    """Real traffic is full of open redirects (came_from=http..., Google's url=...): nothing in it
    is flagged, and no redirect is given a destination."""
    e = egress[name]
    assert e.benign > 1000 and e.benign_flagged == 0
    assert e.redirects_with_destination == 0


def test_open_redirects_are_counted(egress):
    """The figure means something: the redirects of the real logs are there to be counted."""
    assert egress["nielsbasjes-hackers-access-log"].redirects >= 790
    assert egress["elastic-apache-logs"].redirects >= 260


def test_scope_rules_name_their_reason(figures):
    for f in figures.values():
        assert all(reason for reason in f.out_reasons)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("a b", "a%20b"),
        ("x&y+z#w", "x%26y%2Bz%23w"),
        ("%0Aid", "%0Aid"),  # an escape already in the payload list stays
        ("100%", "100%25"),
        ("é", "%C3%A9"),
    ],
)
def test_payloads_are_encoded_like_a_client_sends_them(text, want):
    assert corpus_eval.param_value(text) == want
