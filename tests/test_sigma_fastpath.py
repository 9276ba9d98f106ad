"""With Sigma rules the fast path still loses nothing: the rules' literals feed the prefilter,
and fast and full paths give the same findings on the corpus, the sample logs and encoded,
case-changed variants of every literal."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_LOGS, combined_line, corpus_cases
from dropscan.detect.scanner import Scanner
from dropscan.engine import default_signatures
from dropscan.formats.logformat import compile_format
from dropscan.sources.files import Source, is_log_like, open_blocks

pytest.importorskip("sigma", reason="the sigma extra (pySigma) is not installed")
from dropscan.detect.sigma.load import load_rules
from test_sigma_run import MODIFIERS, rule_dir, sigmahq

COMBINED = compile_format("combined")


@pytest.fixture(scope="module")
def scanners():
    pack = load_rules(str(sigmahq()))
    assert pack.keywords is not None
    fast = Scanner(default_signatures(), fast=True, sigma=pack)
    if not fast.fast:
        pytest.skip("hyperscan is not installed: no fast path on this platform")
    return pack, fast, Scanner(default_signatures(), fast=False, sigma=pack)


def _compare(scanners, chunk: bytes, fmt=COMBINED):
    _pack, fast, full = scanners
    a = fast.scan_chunk(chunk, fmt, log_file="x")
    b = full.scan_chunk(chunk, fmt, log_file="x")
    assert [f.to_record() for f in a.findings] == [f.to_record() for f in b.findings]
    return b


def test_corpus_and_sample_logs(scanners):
    lines = []
    for case in corpus_cases():
        if case["kind"] == "access_log_line":
            lines.append(case["text"].encode("utf-8", "surrogateescape"))
        elif not case.get("log_line"):
            lines.append(combined_line(case["text"]).rstrip(b"\n"))
    chunk = b"\n".join(ln.replace(b"\n", b" ") for ln in lines) + b"\n"
    res = _compare(scanners, chunk)
    sigma_only = [f for f in res.findings if f.category == "sigma"]
    assert len(sigma_only) > 20  # SQL injection, traversal ...: what only the Sigma rules know
    for p in SAMPLE_LOGS.iterdir():
        if is_log_like(p.name):
            fmt = compile_format("vhost_combined" if "vhost" in p.name else "combined")
            _compare(scanners, b"".join(open_blocks(Source(str(p)))), fmt)


def _variant(literal: str, how: list[int]) -> str:
    """``literal`` with characters percent-encoded or upper-cased, as evasions do."""
    out = []
    for c, h in zip(literal, how * (len(literal) // max(len(how), 1) + 1), strict=False):
        out.append(urllib.parse.quote(c, safe="") if h == 1 and c.isascii() else c.upper() if h == 2 else c)
    return "".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_literal_encoded_or_cased(scanners, data):
    pack = scanners[0]
    literal = data.draw(st.sampled_from(sorted(pack.keywords)))
    how = data.draw(st.lists(st.integers(0, 2), min_size=1, max_size=6))
    where = data.draw(st.sampled_from(["target", "ua", "referer"]))
    text = _variant(literal, how)
    kw = {"target": "/a?x=" + text} if where == "target" else {where: text}
    _compare(scanners, combined_line(**kw) + combined_line("/index.html"))


def test_a_rule_without_literal_turns_the_prefilter_off(tmp_path):
    pack = load_rules(str(rule_dir(tmp_path, {"re": MODIFIERS["re"], "contains": MODIFIERS["contains"]})))
    assert pack.keywords is None and pack.ungated == ("00000000-0000-4000-8000-000000000000",)
    assert pack.summary()["prefilter"].startswith("off: 1 rule(s) have no literal")
    assert not Scanner(default_signatures(), fast=True, sigma=pack).fast
