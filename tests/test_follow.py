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
from pathlib import Path

from typer.testing import CliRunner

from dropscan.cli import app
from dropscan.engine import ScanOptions
from dropscan.follow import follow
from dropscan.state.incremental import Incremental
from test_state import line

SAFETY = 600  # seconds: only so that a broken follow fails instead of hanging; never a pace


class Polls:
    """Stands in for follow's ``stop`` event so that the test, not a clock, paces the polls:
    each poll ends in ``wait``, which blocks until the test lets the next one run."""

    def __init__(self) -> None:
        self.stopped = False
        self._done = threading.Semaphore(0)
        self._go = threading.Semaphore(0)

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, _interval: float) -> bool:
        self._done.release()
        self._go.acquire()
        return self.stopped

    def finished(self) -> None:
        """Return once a poll has ended (all its findings emitted and flushed)."""
        assert self._done.acquire(timeout=SAFETY), "follow never finished a poll"

    def next(self) -> None:
        """Run one more poll, to its end."""
        self._go.release()
        self.finished()

    def stop(self) -> None:
        self.stopped = True
        self._go.release()


def append(p: Path, ids) -> None:
    with open(p, "ab") as fh:
        fh.write(b"".join(line(i) for i in ids))


def ids_of(requests) -> list[int]:
    return [int(r.split("id=")[1][:5]) for r in requests]


def test_follow_in_a_thread_survives_rename_and_copytruncate(tmp_path):
    log = tmp_path / "access.log"
    append(log, range(0, 6))  # attacks 0, 3: read on the first poll
    found, errors = [], []
    polls = Polls()  # the changes below land between polls, however slow the machine is
    with Incremental(None) as inc:
        t = threading.Thread(
            target=follow,
            args=([str(log)], ScanOptions(), inc, found.append, lambda: None),
            kwargs={"stop": polls, "interval": 0, "on_error": errors.append},
        )
        t.start()
        try:
            polls.finished()
            assert len(found) == 2
            append(log, range(6, 9))  # appended: 6
            polls.next()
            assert len(found) == 3
            append(log, range(9, 13))  # 9, 12 written just before a rename rotation
            os.rename(log, tmp_path / "access.log.1")
            polls.next()
            append(log, range(13, 16))  # a poll without access.log; then 15, in a new file
            polls.next()
            assert len(found) == 6
            append(log, range(16, 19))  # 18 just before copytruncate
            shutil.copyfile(log, tmp_path / "access.log.1")
            os.truncate(log, 0)
            append(log, range(19, 22))  # 21
            polls.next()
            assert len(found) == 8
            for _ in range(2):  # more polls: nothing may come twice
                polls.next()
        finally:
            polls.stop()
            t.join(SAFETY)
    assert not t.is_alive() and errors == []
    assert ids_of(f.request for f in found) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert [Path(f.log_file).name for f in found] == ["access.log"] * 3 + ["access.log.1"] * 2 + [
        "access.log",
        "access.log.1",
        "access.log",
    ]


def test_follow_cli_writes_as_it_goes_and_stops_cleanly_on_sigterm(tmp_path):
    log = tmp_path / "access.log"
    state = tmp_path / "state.json"
    append(log, range(0, 4))
    cmd = [sys.executable, "-c", "from dropscan.cli import main; main()", "scan", str(log)]
    proc = subprocess.Popen(
        [*cmd, "--follow", "--interval", "0.05", "--state", str(state), "-f", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(SAFETY, proc.kill)  # only so that a hang fails; never a pace
    watchdog.start()
    try:

        def written(n: int) -> list[int]:
            """The next ``n`` findings, read as the process writes them (a blocking read)."""
            return ids_of(json.loads(proc.stdout.readline())["request"] for _ in range(n))

        assert written(2) == [0, 3]
        append(log, range(4, 8))
        os.rename(log, tmp_path / "access.log.1")
        append(log, range(8, 10))
        assert written(2) == [6, 9]  # flushed after each poll, across the rotation
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate()
    finally:
        watchdog.cancel()
        proc.kill()
    assert (proc.returncode, stdout, stderr) == (1, "", "")
    append(log, range(10, 13))  # after follow stopped: the state says where it was
    r = CliRunner().invoke(app, ["scan", str(log), "--state", str(state), "-f", "jsonl"])
    assert ids_of(json.loads(x)["request"] for x in r.stdout.splitlines()) == [12]
