"""The progress line: on a terminal only (stderr a TTY), never in cron mail, pipes or files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import SAMPLE_LOGS, diagnostics, on_a_terminal
from dropscan.outputs.progress import progress_text

ENV = {**os.environ, "TERM": "xterm", "COLUMNS": "150"}
ENV.pop("NO_COLOR", None)


def _on_a_terminal(args: list[str], env=ENV) -> tuple[int, str]:
    """stderr on a pseudo-terminal, stdout elsewhere: what the terminal shows."""
    return on_a_terminal(args, env, stdout_too=False)


@pytest.mark.parametrize("cmd", ["scan", "report"])
def test_progress_is_drawn_on_a_terminal_then_erased(cmd, tmp_path):
    out = tmp_path / ("o.jsonl" if cmd == "scan" else "o.md")
    code, text = _on_a_terminal([cmd, str(SAMPLE_LOGS), "-o", str(out)])
    assert code == 1
    # the last frame: every file, every byte of a known total, the findings so far, an ETA
    assert "file 4/4" in text and "5.4 kB/5.4 kB" in text and "16 findings" in text and "ETA" in text
    assert "lines/s" in text
    assert "\x1b[2K" in text  # transient: the line is erased when the scan ends
    if cmd == "scan":
        assert text.rsplit("\x1b[2K", 1)[1].startswith("dropscan: 4 file(s)")  # the summary replaces it


def test_no_color_progress_has_no_colour_codes(tmp_path):
    _code, seen = _on_a_terminal(["scan", str(SAMPLE_LOGS), "-o", str(tmp_path / "o.jsonl")], {**ENV, "NO_COLOR": "1"})
    assert "file 4/4" in seen and "\x1b[9" not in seen and "\x1b[3" not in seen


@pytest.mark.parametrize("cmd", ["scan", "report"])
def test_no_progress_when_stderr_is_not_a_terminal(cmd, tmp_path):
    """Cron mail and pipes get the results and errors, not a progress bar."""
    proc = subprocess.run(
        [sys.executable, "-m", "dropscan", cmd, str(SAMPLE_LOGS), "-o", str(tmp_path / "o.md")],
        capture_output=True,
        env=ENV,
        check=False,
    )
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert diagnostics(err) == [] and "\r" not in err and "\x1b[" not in err and "lines/s" not in err
    assert cmd == "report" or "dropscan: 4 file(s)" in err  # a scan says what it covered, in plain lines
    assert b"lines/s" not in proc.stdout and b"\x1b[" not in proc.stdout


def test_progress_words():
    info = {
        "files": 2,
        "files_total": 3,
        "bytes": 1_500_000,
        "bytes_total": 3_000_000,
        "lines": 20_000,
        "findings": 1,
        "current": "/var/log/apache2/access.log.1",
    }
    assert progress_text(info, elapsed=2.0, eta=65.0) == (
        "file 2/3  1.5 MB/3.0 MB  10,000 lines/s  1 finding  ETA 0:01:05  access.log.1"
    )
    # stdin: no total, so no ETA; a file name is shown escaped
    stdin = {**info, "bytes_total": None, "current": "evil\x1b]0;x\x07.log"}
    assert progress_text(stdin, elapsed=None, eta=12.0) == "file 2/3  1.5 MB  1 finding  evil\\x1b]0;x\\x07.log"
