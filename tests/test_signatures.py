"""The signature pack: every signature's own examples, the schema, the lint, and the breadth."""

from __future__ import annotations

import pytest

from dropscan.engine import default_signatures
from dropscan.errors import UsageError
from dropscan.selftest import lint_all, run_example
from dropscan.signatures import SignatureSet, lint_pattern

SIGS = default_signatures()


@pytest.mark.parametrize("sig", SIGS.signatures, ids=lambda s: s.id)
def test_signature_examples(sig, full_scanner):
    assert sig.matches and sig.no_matches, "every signature needs match and no_match examples"
    failures = [
        r
        for r in (
            *(run_example(full_scanner, sig, ex, True) for ex in sig.matches),
            *(run_example(full_scanner, sig, ex, False) for ex in sig.no_matches),
        )
        if not r.ok
    ]
    assert not failures, [(r.example.text, r.problem) for r in failures]


def test_pack_breadth():
    assert len(SIGS) >= 25
    assert all(s.references for s in SIGS.signatures)
    cats = {s.category for s in SIGS.signatures}
    assert {"dropper", "reverse-shell", "jndi", "shellshock", "rfi", "rce", "rce-probe", "expression"} <= cats
    for s in SIGS.signatures:
        if s.egress:
            assert s.severity == "critical", s.id
        if s.category == "rce-probe":
            assert s.severity == "medium" and not s.egress, s.id


def test_patterns_survive_adversarial_inputs():
    assert lint_all(SIGS, timeout=1.0) == []


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(?:\w*\s)*x", r"(a|b+)*", r"(?:x{2,})+"])
def test_lint_refuses_nested_unbounded(pattern):
    assert lint_pattern(pattern)


@pytest.mark.parametrize("pattern", [r"(?:ab)+", r"(?:a+b){1,8}", r"(?>a+)+", r"(?:a++)+", r"[(]+x", r"\(a+\)+"])
def test_lint_accepts_safe(pattern):
    assert lint_pattern(pattern) is None


def _pack(tmp_path, text, name="p.yaml"):
    (tmp_path / name).write_text(text)
    return tmp_path


GOOD = """
- id: my.rule
  name: mine
  category: rce
  severity: high
  egress: false
  keywords: [";foo"]
  patterns: [';foo\\b']
  references: [local]
  examples: {match: ["/x?a=;foo"], no_match: ["/x?a=foo"]}
"""


def test_user_pack_loads(tmp_path):
    s = SignatureSet.load(_pack(tmp_path, GOOD))
    assert s.ids == ["my.rule"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("category: rce", "category: nope"), "category must be one of"),
        (lambda t: t.replace("  references: [local]\n", ""), "missing references"),
        (lambda t: t.replace('no_match: ["/x?a=foo"]', "no_match: []"), "examples.no_match must be a non-empty list"),
        (lambda t: t.replace("';foo\\b'", "'(a+)+'"), "nested unbounded quantifier"),
        (lambda t: t.replace("';foo\\b'", "'(unclosed'"), "does not compile"),
        (lambda t: t.replace('[";foo"]', '["Foo"]'), "must be lower-case"),
        (lambda t: t + "  colour: red\n", "unknown key"),
        (lambda t: t + "\n: [", "is not valid YAML"),
    ],
)
def test_bad_pack_is_a_clear_error_naming_the_file(tmp_path, mutate, message):
    with pytest.raises(UsageError, match=message) as e:
        SignatureSet.load(_pack(tmp_path, mutate(GOOD)))
    assert "p.yaml" in str(e.value)


def test_duplicate_ids_refused(tmp_path):
    _pack(tmp_path, GOOD, "a.yaml")
    _pack(tmp_path, GOOD, "b.yaml")
    with pytest.raises(UsageError, match="already defined"):
        SignatureSet.load(tmp_path)
