"""--follow: findings arrive while the log is written, across rename rotation and copytruncate,
each once; SIGTERM ends it cleanly with the position saved."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from dropscan.cli import app
from dropscan.engine import ScanOptions
from dropscan.follow import follow
from dropscan.state import Incremental
from test_state import line


def wait_for(cond, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def append(p: Path, ids) -> None:
    with open(p, "ab") as fh:
        fh.write(b"".join(line(i) for i in ids))


def ids_of(requests) -> list[int]:
    return [int(r.split("id=")[1][:5]) for r in requests]


def test_follow_in_a_thread_survives_rename_and_copytruncate(tmp_path):
    log = tmp_path / "access.log"
    append(log, range(0, 6))  # attacks 0, 3: read on the first poll
    found, errors = [], []
    polled = threading.Event()  # set by each poll's flush: the changes below land between polls
    stop = threading.Event()

    def between_polls(change) -> None:
        polled.clear()
        assert polled.wait(30)
        change()

    with Incremental(None) as inc:
        t = threading.Thread(
            target=follow,
            args=([str(log)], ScanOptions(), inc, found.append, polled.set),
            kwargs={"stop": stop, "interval": 0.3, "on_error": errors.append},
        )
        t.start()
        try:
            wait_for(lambda: len(found) == 2)
            between_polls(lambda: append(log, range(6, 9)))  # appended: 6
            wait_for(lambda: len(found) == 3)

            def rename() -> None:
                append(log, range(9, 13))  # 9, 12 written just before a rename rotation
                os.rename(log, tmp_path / "access.log.1")

            between_polls(rename)
            between_polls(lambda: append(log, range(13, 16)))  # a poll without access.log; then 15, new file
            wait_for(lambda: len(found) == 6)

            def copytruncate() -> None:
                append(log, range(16, 19))  # 18 just before copytruncate
                shutil.copyfile(log, tmp_path / "access.log.1")
                os.truncate(log, 0)
                append(log, range(19, 22))  # 21

            between_polls(copytruncate)
            wait_for(lambda: len(found) == 8)
            for _ in range(2):  # more polls: nothing may come twice
                between_polls(lambda: None)
        finally:
            stop.set()
            t.join(10)
    assert not t.is_alive() and errors == []
    assert ids_of(f.request for f in found) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert [Path(f.log_file).name for f in found] == ["access.log"] * 3 + ["access.log.1"] * 2 + [
        "access.log",
        "access.log.1",
        "access.log",
    ]


def test_follow_cli_writes_as_it_goes_and_stops_cleanly_on_sigterm(tmp_path):
    log = tmp_path / "access.log"
    out = tmp_path / "found.jsonl"
    state = tmp_path / "state.json"
    append(log, range(0, 4))
    cmd = [sys.executable, "-c", "from dropscan.cli import main; main()", "scan", str(log)]
    proc = subprocess.Popen(
        [*cmd, "--follow", "--interval", "0.05", "--state", str(state), "-f", "jsonl", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def written() -> list[int]:
            done = out.read_text().split("\n")[:-1] if out.exists() else []  # whole lines only
            return ids_of(json.loads(x)["request"] for x in done)

        wait_for(lambda: written() == [0, 3])
        append(log, range(4, 8))
        os.rename(log, tmp_path / "access.log.1")
        append(log, range(8, 10))
        wait_for(lambda: written() == [0, 3, 6, 9])  # flushed after each poll, across the rotation
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert (proc.returncode, stdout, stderr) == (1, "", "")
    append(log, range(10, 13))  # after follow stopped: the state says where it was
    r = CliRunner().invoke(app, ["scan", str(log), "--state", str(state), "-f", "jsonl"])
    assert ids_of(json.loads(x)["request"] for x in r.stdout.splitlines()) == [12]
