"""Sigma rules read no clock: wildcard values are matched without backtracking, ``re`` values
are linted when loaded and charged to the line's counted budget, like the signature pack's."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import combined_line
from dropscan.detect import match
from dropscan.detect.decode import MAX_FIELD
from dropscan.detect.scanner import Scanner
from dropscan.detect.sigma import glob
from dropscan.detect.sigma.glob import ANY_ONE, Glob
from dropscan.engine import default_signatures
from dropscan.formats.logformat import compile_format

pytest.importorskip("sigma", reason="the sigma extra (pySigma) is not installed")
from dropscan.detect.sigma.load import load_rules
from test_sigma_run import rule_dir

COMBINED = compile_format("combined")


def _pieces(pattern: str) -> list[list[str | None]]:
    return [[ANY_ONE if c == "?" else c for c in piece] for piece in pattern.split("*")]


def _fnmatch_regex(pattern: str, search: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f".*{body}.*" if search else body, re.DOTALL)


@given(
    pattern=st.text(alphabet="ab*?\n", max_size=8),
    text=st.text(alphabet="abc\n", max_size=12),
    search=st.booleans(),
)
def test_glob_agrees_with_fnmatch_semantics(pattern, text, search):
    expected = _fnmatch_regex(pattern, search).fullmatch(text) is not None
    assert Glob.of(_pieces(pattern), search=search).match(text) is expected


HOSTILE_RULE = "sel:\n  cs-user-agent: '*ab*ab*ab*ac'\ncondition: sel"  # .*ab.*ab.*ab.*ac as a regex


def _scanners(pack):
    full = Scanner(default_signatures(), fast=False, sigma=pack)
    fast = Scanner(default_signatures(), fast=True, sigma=pack)
    return [full, fast] if fast.fast else [full]


@pytest.mark.parametrize(("tail", "hit"), [("ab", False), ("ac", True)])
def test_a_wildcard_on_a_hostile_field_costs_a_search_per_piece(tmp_path, monkeypatch, tail, hit):
    """``*ab*ab*ab*ac`` on 256 Ki characters of ``ab``: a backtracking regex tries about n^3
    ways before it fails; the glob searches once per piece and text, so the result is the
    same whatever the load (no limit to run out), and the work is counted, never timed."""
    pack = load_rules(str(rule_dir(tmp_path, {"hostile": HOSTILE_RULE})))
    ua = "ab" * (MAX_FIELD // 2 - 1) + tail
    line = combined_line("/", ua=ua)
    calls = {"at": 0, "find": 0}
    at, find = glob._at, glob._find

    def counted(name, f):
        def g(*args):
            calls[name] += 1
            return f(*args)

        return g

    monkeypatch.setattr(glob, "_at", counted("at", at))
    monkeypatch.setattr(glob, "_find", counted("find", find))
    for scanner in _scanners(pack):
        calls.update(at=0, find=0)
        a = scanner.analyse(line, COMBINED, skip_fields=scanner.fast)
        finding = scanner.finding(a, "x", 1, 0)
        texts = 1  # the user agent as logged: plain letters have no other decoding view
        assert calls["at"] <= 2 * texts and calls["find"] <= 3 * texts  # first/last piece, then 3 between
        assert a.bounds.cut == [] and a.bounds.work <= texts * len(ua)
        if hit:
            assert finding is not None and finding.rule_ids == [pack.rules[0].rule_id]
            assert (finding.category, finding.field) == ("sigma", "user_agent")
        else:
            assert finding is None


def test_a_regex_that_cannot_be_bounded_is_refused_once_with_the_reason(tmp_path):
    d = rule_dir(
        tmp_path,
        {
            "nested": "sel:\n  cs-uri-query|re: '(a+)+b'\ncondition: sel",
            "fine": "sel:\n  cs-user-agent|re: '^Go-http-client/[0-9.]+$'\ncondition: sel",
        },
    )
    pack = load_rules(str(d))
    assert [r.title for r in pack.rules] == ["fine"]
    ((file, _rule, why),) = pack.not_applicable
    assert file.endswith("nested.yml")
    assert "refused: nested unbounded quantifier" in why
    assert pack.summary()["not_applicable"][0]["reason"] == why


def test_a_regex_the_budget_cannot_pay_for_is_reported_unscanned(tmp_path, monkeypatch):
    """The rules share the line's budget with the signatures: when a ``re`` value cannot be
    paid for, the line is ``unscanned.match-budget`` on that field, as with the pack."""
    pack = load_rules(str(rule_dir(tmp_path, {"re": "sel:\n  cs-user-agent|re: 'zz[0-9]'\ncondition: sel"})))
    monkeypatch.setattr(match, "MATCH_WORK", 100)
    short, long = combined_line("/", ua="zz1"), combined_line("/", ua="zz1" + "x" * 200)
    for scanner in _scanners(pack):
        res = scanner.scan_chunk(short + long, COMBINED, log_file="x")
        by_line = {f.line_no: f for f in res.findings}
        assert by_line[1].rule_ids == [pack.rules[0].rule_id]
        assert by_line[2].rule_ids == ["unscanned.match-budget"]
        assert (by_line[2].category, by_line[2].field) == ("unscanned", "user_agent")
        assert res.unscanned == 1
