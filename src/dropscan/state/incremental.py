"""Incremental scans: remember where each log file was read up to, and next time read only what
is new, across log rotation, without reading a line twice or skipping one.

A file is known by a fingerprint, not by its name or inode: the sha256 of the first
min(1024, size) bytes of its decompressed content (``fp``, over ``fp_len`` bytes), as Filebeat and
fail2ban do. Name and inode alone lose data: after rotation a new ``access.log`` can get the inode
of the file just deleted, and after ``copytruncate`` the same inode holds other lines
(../shared/reference/ecosystem.md §6.2-6.3). For each file of a rotation set, the state keeps::

    {path, dev, ino, offset, lines, size, mtime, fp, fp_len, done, format, head}

``offset`` counts bytes of the decompressed stream consumed, always just past a complete line (a
line still being written is left for the next run); ``lines`` keeps line numbers absolute across
runs; ``done`` marks a compressed file read to its end (it cannot grow, so later runs skip it on
``stat`` alone); ``format`` is the log format found on the file's first lines; ``head`` is the
first ``fp_len`` bytes themselves (base64), to know a copy still being written by its prefix.

logrotate may act at any moment, so a run re-derives what it knows about every file of each
rotation set (``access.log``, ``.N``, ``-DATE``, compressed or not) from what is on disk:

* Planning (`Incremental.plan`) lists every file of the sets involved (a named file brings its
  whole set), opens each one and lists again until the listing shows the files just opened:
  a file renamed or removed meanwhile is followed, not reported as missing.
* Each entry goes to the candidate that holds its content best (same inode, then uncompressed,
  then same path). A known file resumes at its offset: appended lines, late writes to a rotated
  file, the unread tail of a file renamed, compressed (decompressed, ``offset`` bytes skipped)
  or copied by ``copytruncate``. A file that matches an entry another candidate holds better (a
  copy being compressed next to the original) is not read twice.
* An unknown rotated file whose first bytes only begin those of a known file or of another
  candidate (or a compressed one with nothing decompressible yet) is a copy still being
  written: it is not read. Any other unknown file is new and read whole: the new
  ``access.log``, the truncated file after ``copytruncate``, a file rotated twice since the last
  run. Only on the first run that names the live file of a set are the rotated files next to
  it recorded as they are, without being read.
* Reading goes through the descriptors opened when planning (`sources.Resume.fd`), so a rename
  before or during the read changes nothing; a live file whose first bytes change while it is
  read (truncated and refilled) stops being read there.

`Incremental.commit` records every file where it is now (found by its inode), its size and
mtime as planned, where reading stopped, and ``done`` only if it was read to its end; it runs
once the caller has written and flushed its output. The state file is replaced atomically (temp
file in the same directory, fsync, ``os.replace``), so a crash in between reports the same
findings again rather than losing them. A lock (`dropscan.state.lock`) keeps two runs off one state
file; a symlinked state path is followed to its target.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from math import inf
from typing import Any

from ..engine import Scan, ScanOptions
from ..errors import InputError, UsageError
from ..sources import archives
from ..sources.files import (
    COMPRESSED_SUFFIXES,
    Resume,
    Source,
    detect_compression,
    expand_paths,
    file_ident,
    read_head,
    rotation_key,
)
from .lock import exclusive

FORMAT = "dropscan-state"
VERSION = 2  # 2 added "head"; version 1 files are read too
FP_BYTES = 1024
RESET_HINT = "run once with --reset-state to start over (that run reads every log from the start)"
RELIST = 3  # listings per plan when files vanish between listing and opening (logrotate at work)


@dataclass(slots=True)
class Entry:
    """What the last run knew about one file (the JSON object in the state file)."""

    path: str  # absolute
    dev: int
    ino: int
    offset: int
    lines: int
    size: int
    mtime: float
    fp: str  # sha256 hex of the first fp_len decompressed bytes
    fp_len: int
    done: bool = False
    format: str | None = None
    head: str = ""  # base64 of those first bytes ("" in a version 1 state): a copy still being
    # written holds a prefix of them

    @property
    def ident(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    def head_bytes(self) -> bytes:
        return base64.b64decode(self.head)


@dataclass(slots=True)
class Probe:
    """A candidate file, opened: its ``stat``, compression, and (read lazily) its first bytes.
    It is read through ``fd``, so a rename after planning changes nothing."""

    path: str  # as the user gave it (and as findings report it)
    key: str  # absolute
    fd: int
    dev: int
    ino: int
    size: int
    mtime: float
    compressed: bool
    _head: bytes | None = None
    unreadable: bool = False  # its first bytes could not be read (corrupt): the engine will say

    @property
    def ident(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    def head(self) -> bytes:
        if self._head is None:
            try:
                self._head = read_head(self.fd, FP_BYTES)
            except InputError:
                self.unreadable, self._head = True, b""
        return self._head


def probe(path: str) -> Probe | None:
    """The file opened; ``None`` when it cannot be (it is read as a new file and the engine says
    why). `FileNotFoundError` when it is gone: renamed or deleted since it was listed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        compressed = detect_compression(os.pread(fd, 6, 0)) is not None
    except OSError:
        os.close(fd)
        return None
    return Probe(path, os.path.abspath(path), fd, st.st_dev, st.st_ino, st.st_size, st.st_mtime, compressed)


def fingerprint(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


def rotation_set(path: str) -> tuple:
    """(directory, base name): ``access.log``, ``access.log.1``, ``access.log.2.gz`` share it."""
    return rotation_key(os.path.abspath(path))[:2]


def rotated_siblings(path: str) -> list[str]:
    """The other files of ``path``'s rotation set, oldest first."""
    d = os.path.dirname(path)
    mine = rotation_set(path)
    try:
        names = os.listdir(d or ".")
    except OSError:
        return []
    out = [os.path.join(d, n) for n in names]
    out = [p for p in out if p != path and rotation_set(p) == mine and os.path.isfile(p)]
    return sorted(out, key=rotation_key)


def is_live_name(path: str) -> bool:
    """``access.log`` rather than ``access.log.1`` or ``access.log-20261127.gz``: the file written to."""
    return rotation_key(path)[2][0] == 2 and not path.endswith(COMPRESSED_SUFFIXES)


def matches(e: Entry, p: Probe) -> bool:
    """Whether candidate ``p`` holds the content that ``e`` describes (at least its first bytes)."""
    if p.ident == e.ident and p.size == e.size and p.mtime == e.mtime:
        return True  # untouched since the last run
    if p.ident != e.ident and rotation_set(p.key) != rotation_set(e.path):
        return False  # equal first lines in two different logs do not make one file
    if not p.compressed and p.size < e.offset:
        return False  # truncated (copytruncate) or another file
    head = p.head()
    return 0 < e.fp_len <= len(head) and fingerprint(head[: e.fp_len]) == e.fp


def is_partial_copy(head: bytes, p: Probe, of: bytes, ident: tuple[int, int], key: str) -> bool:
    """Whether ``p`` (first bytes ``head``) holds only a beginning of another file's first bytes
    ``of``: a copy still being written (copytruncate's copy, gzip's output)."""
    return (
        p.ident != ident
        and 0 < len(head) < len(of)
        and of.startswith(head)
        and rotation_set(p.key) == rotation_set(key)
    )


@dataclass(slots=True)
class Read:
    probe: Probe
    entry: Entry | None
    resume: Resume


@dataclass(slots=True)
class Plan:
    """What one run reads: ``sources`` for `engine.Scan`, path errors, and warnings."""

    sources: list[Source] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)  # every candidate opened (closed at commit)
    reads: dict[str, Read] = field(default_factory=dict)  # by source path
    carried: list[tuple[Entry, Probe]] = field(default_factory=list)  # matched, nothing new to read
    skipped: list[Probe] = field(default_factory=list)  # older rotated files of a set seen first now
    matched: set[int] = field(default_factory=set)  # ids of entries a candidate matched
    copies: set[str] = field(default_factory=set)  # candidates holding only what another one holds
    named: set[str] = field(default_factory=set)  # absolute paths the caller named
    sets: set[tuple] = field(default_factory=set)  # rotation sets of every candidate
    unlisted: list[Entry] = field(default_factory=list)  # files there, but missed by a listing

    def close(self) -> None:
        for p in self.probes:
            os.close(p.fd)
        self.probes = []


class Incremental:
    """A state file and its lock, for runs that read only what is new since the last one.

    Any command built on `engine.Scan` uses it the same way::

        with Incremental(state_path, reset=False) as inc:   # lock (LockedError), load (UsageError)
            run = inc.scan(paths, options, on_reject)        # an engine.Scan over what is new
            for finding in run: ...                          # write the output
            ...                                              # close/flush the output
            inc.commit(run, outputs=[output_path])           # fsync outputs, then save the state

    Nothing is saved unless ``commit`` is called, so a run that fails before its output is
    written leaves the state where it was. ``path=None`` keeps the state in memory (``--follow``
    without ``--state``): no lock, no file. ``warnings`` lists what the last plan could not
    guarantee (a rotated file whose old content was not found). A symlinked state path is
    followed: the lock and the file written are those of its target.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, reset: bool = False):
        self.path = os.path.realpath(path) if path is not None else None
        self.reset = reset
        self.entries: list[Entry] = []
        self.warnings: list[str] = []
        self._plan: Plan | None = None
        self._lock = None
        self._entered = self.path is None

    # --- lock and load ---------------------------------------------------------------------
    def __enter__(self) -> Incremental:
        if self.path is not None:
            d = os.path.dirname(self.path)
            if not os.path.isdir(d):
                raise UsageError(f"{self.path}: the state file's directory does not exist")
            self._lock = exclusive(self.path)
            self._lock.__enter__()
            try:
                remove_stale_temps(self.path)
                self.entries = [] if self.reset else load(self.path)
            except BaseException:
                self.__exit__(None, None, None)
                raise
        self._entered = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._plan is not None:
            self._plan.close()
            self._plan = None
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)
        self._entered = self.path is None

    # --- plan and scan ---------------------------------------------------------------------
    def scan(
        self,
        paths: Iterable[str],
        options: ScanOptions | None = None,
        on_reject: Callable[[str, bytes], None] | None = None,
    ) -> Scan:
        """An `engine.Scan` of what is new in ``paths`` (files, directories, globs)."""
        paths = list(paths)
        plan = self.plan(paths)
        run = Scan(paths, options, on_reject, sources=plan.sources)
        run.errors.extend(plan.errors)
        return run

    def plan(self, paths: list[str]) -> Plan:
        """Every file of every rotation set involved, opened and matched to what the state knows
        about it. A named file brings its whole rotation set: a rotated file may still be
        written to (old workers after a graceful reload) or may have been rotated twice."""
        if not self._entered:
            raise RuntimeError("use Incremental as a context manager: it holds the state's lock")
        if self._plan is not None:
            self._plan.close()
            self._plan = None
        plan = self._open_all(paths)
        assigned = self._assign(plan)
        seen = self._seen_until(plan)
        for p in plan.probes:
            if p.key in assigned or p.key in plan.copies:
                continue
            if self._partial_copy(p, plan):
                plan.copies.add(p.key)
            elif p.key not in plan.named and _named_in_set(p, plan) and p.mtime <= seen.get(rotation_set(p.key), inf):
                plan.skipped.append(p)  # older than what the state knows: its past was not asked for
        for e in self.entries:
            if id(e) in plan.matched or rotation_set(e.path) not in plan.sets:
                continue
            if (where := _still_there(e, plan)) is not None:
                plan.unlisted.append(replace(e, path=where))  # the listing missed it: keep what is known
                plan.matched.add(id(e))
                continue
            if not e.done and (is_live_name(e.path) or e.offset < e.size):
                plan.warnings.append(
                    f"{e.path}: replaced since the last run and its old content was not found by fingerprint "
                    f"(looked for every file of its rotation set: {os.path.basename(e.path)}.N, -DATE, .gz); "
                    f"lines written to it after line {e.lines} were not read"
                )
        skipped = {p.key for p in plan.skipped}
        for p in plan.probes:
            if p.key in plan.copies or p.key in skipped:
                continue
            e = assigned.get(p.key)
            if e is not None and _nothing_new(e, p):
                plan.carried.append((e, p))
                continue
            p.head()  # now, before the read: what it began with when planned
            resume = Resume(
                offset=e.offset if e else 0,
                line=e.lines if e else 0,
                fd=p.fd,
                head=b"" if p.compressed else p.head(),
                keep_partial=p.compressed,  # a compressed file is finished: its last line is whole
                format=e.format if e else None,
            )
            plan.sources.append(Source(p.path, resume, walked=os.path.abspath(p.path) not in plan.named))
            plan.reads[p.path] = Read(p, e, resume)
        self._plan = plan
        self.warnings = plan.warnings
        return plan

    def _seen_until(self, plan: Plan) -> dict[tuple, float]:
        """For each rotation set of ``plan``, the mtime up to which its unknown rotated files are
        older than what a named live file asks for: no limit for a set the state does not know
        yet (its first run reads the named file, not its archives); nothing for a set it knows,
        where every file it saw has an entry, so an unknown one is new; for a set known by a
        version 1 state (which kept only the files it read), the newest mtime it recorded."""
        out: dict[tuple, float] = {}
        for e in self.entries:
            s = rotation_set(e.path)
            if s in plan.sets:
                out[s] = max(out.get(s, -inf), e.mtime if not e.head else -inf)
        return out

    def _open_all(self, paths: list[str]) -> Plan:
        """The named files, the files of named directories and globs, and every other file of
        their rotation sets, each opened once. logrotate may rename, create or delete files
        while they are listed and opened, so the listing is taken again until it shows the
        files just opened under the same names (up to `RELIST` times; files already opened stay
        open): a file renamed meanwhile is read under its new name, never reported missing."""
        opened: dict[tuple[int, int], Probe] = {}  # the latest probe of each file
        every: list[Probe] = []  # every file opened: those the plan does not use are closed
        named = {os.path.abspath(p) for p in paths}
        for _attempt in range(RELIST):
            try:
                _sources, errors, order = self._list(paths, named)
            except BaseException:
                for p in every:
                    os.close(p.fd)
                raise
            plan = Plan(errors=errors, named=named)
            by_path = {p.path: p for p in opened.values()}
            for path in order:
                p = by_path.get(path)
                if p is not None and _stat_at(path) != (p.ident, p.size, p.mtime):
                    p = None  # another file by now, or changed since: open it again
                if p is None:
                    try:
                        p = probe(path)
                    except FileNotFoundError:
                        if os.path.abspath(path) in named or archives.split(path) is not None:
                            # missing: the engine says so; an archive member: read whole, as before
                            plan.sources.append(Source(path, Resume(), walked=os.path.abspath(path) not in named))
                        continue
                    if p is None:
                        # unreadable: the engine says why
                        plan.sources.append(Source(path, Resume(), walked=os.path.abspath(path) not in named))
                        continue
                    every.append(p)
                    if any(q.ident == p.ident for q in plan.probes):
                        continue  # one file under two names in one listing: read once
                    opened[p.ident] = p
                elif any(q is p for q in plan.probes):
                    continue
                plan.probes.append(p)
                plan.sets.add(rotation_set(p.key))
            now = self._list(paths, named)[2]
            if now == order and all(file_ident(p.path) == p.ident for p in plan.probes):
                break
        used = {id(p) for p in plan.probes}
        for p in every:
            if id(p) not in used:
                os.close(p.fd)
        return plan

    def _list(self, paths: list[str], named: set[str]) -> tuple[list[Source], list[str], list[str]]:
        """(sources, errors, every candidate path oldest first) for ``paths``."""
        sources, errors = expand_paths(paths)
        if any(s.is_stdin for s in sources):
            raise UsageError("stdin (-) cannot be read incrementally (--state, --follow): give the log files")
        if self.path is not None and self.path in {os.path.realpath(s.path) for s in sources}:
            raise UsageError(f"{self.path}: the state file is one of the logs to scan; keep it elsewhere")
        order = [s.path for s in sources]
        listed = set(order)
        for s in sources:
            if os.path.abspath(s.path) in named:
                order.extend(x for x in rotated_siblings(s.path) if x not in listed and not listed.add(x))
        return sources, errors, sorted(order, key=rotation_key)

    def _partial_copy(self, p: Probe, plan: Plan) -> bool:
        """An unknown rotated file whose first bytes begin what a known file or another candidate
        of its rotation set began with: a copy still being written (gzip, copytruncate's copy).
        Reading it would report lines twice; once complete, it is known by its fingerprint."""
        if is_live_name(p.key):
            return False  # copies are written under rotated names; the live file starts anew
        head = p.head()
        if p.unreadable:
            return False  # corrupt, not unfinished: the engine reports it
        if not head:  # gzip has not written a whole block yet (or there is nothing in it)
            return p.compressed
        if any(is_partial_copy(head, p, e.head_bytes(), e.ident, e.path) for e in self.entries):
            return True
        return any(is_partial_copy(head, p, q.head(), q.ident, q.key) for q in plan.probes if q is not p)

    def _assign(self, plan: Plan) -> dict[str, Entry]:
        """Each entry to the candidate that holds it best: same inode, then uncompressed (a
        copy being compressed is incomplete), then same path. ``plan.matched`` gets the ids of
        matched entries, ``plan.copies`` the candidates that matched only entries taken by a
        better one."""
        pairs = []
        for i, p in enumerate(plan.probes):
            for e in self.entries:
                if matches(e, p):
                    pairs.append(((p.ident == e.ident, not p.compressed, p.key == e.path, -i), p.key, e))
        pairs.sort(key=lambda x: x[0], reverse=True)
        assigned: dict[str, Entry] = {}
        for _score, key, e in pairs:
            if id(e) in plan.matched:
                if key not in assigned:
                    plan.copies.add(key)
                continue
            if key in assigned:
                continue
            assigned[key] = e
            plan.matched.add(id(e))
            plan.copies.discard(key)
        return assigned

    # --- commit ----------------------------------------------------------------------------
    def commit(self, run: Scan, outputs: Iterable[str | os.PathLike[str] | None] = ()) -> None:
        """Record what is known about each file of the rotation sets ``run`` covered, as they
        are on disk now; call it after the output is written and flushed. ``outputs`` (regular
        files) are fsynced first, so the state never claims lines whose findings could still be
        lost in a crash. A compressed file is finished only when it was read to its end."""
        for out in outputs:
            if out is not None and os.fspath(out) != "-" and os.path.isfile(out):
                with open(out, "rb") as fh:
                    os.fsync(fh.fileno())
        plan, self._plan = self._plan, None
        if plan is None:
            raise RuntimeError("commit() needs a scan() to commit, once")
        try:
            kept = self._known_now(run, plan)
        finally:
            plan.close()
        kept += plan.unlisted
        claimed = {e.path for e in kept}
        for e in self.entries:
            if id(e) in plan.matched or e.path in claimed:
                continue
            if rotation_set(e.path) not in plan.sets or e.path in plan.named:
                kept.append(e)  # another log set on the same state, or a named file gone for now
                claimed.add(e.path)
        self.entries = sorted(kept, key=lambda e: e.path)
        if self.path is not None:
            save(self.path, self.entries)

    def _known_now(self, run: Scan, plan: Plan) -> list[Entry]:
        done = {s.path: s for s in run.files}
        kept = [_entry(p, e.offset, e.lines, e, e.done) for e, p in plan.carried]
        for p in plan.skipped:
            kept.append(_entry(p, *_length(p), None, p.compressed))
        for path, r in plan.reads.items():
            s = done.get(path)
            if s is None or s.end is None:
                if r.entry is not None:
                    kept.append(r.entry)  # not read this time: where it was
                continue
            finished = r.probe.compressed and s.finished
            kept.append(_entry(r.probe, s.end, r.resume.line + s.lines, r.entry, finished, s.format))
        return [e for e in kept if e.fp_len]  # empty when planned: nothing to know it by, nothing read


def _entry(p: Probe, offset: int, lines: int, e: Entry | None, done: bool, fmt: str | None = None) -> Entry:
    """What is known about ``p`` now: where it is (it may have been renamed since it was
    opened), its first bytes (more of them if a small file grew), where reading stopped."""
    fp, fp_len = (e.fp, e.fp_len) if e is not None else (fingerprint(p.head()), len(p.head()))
    head = e.head_bytes() if e is not None and e.head else p.head()[:fp_len]
    if fingerprint(head) != fp:
        head = b""  # a version 1 entry whose file now begins otherwise: no prefix to compare
    if fp_len < FP_BYTES:  # a small file may have grown: know it by more bytes
        try:
            fresher = read_head(p.fd, FP_BYTES)
        except InputError:
            fresher = b""
        if len(fresher) > fp_len and fingerprint(fresher[:fp_len]) == fp:
            head, fp, fp_len = fresher, fingerprint(fresher), len(fresher)
    return Entry(
        path=_where(p),
        dev=p.dev,
        ino=p.ino,
        offset=offset,
        lines=lines,
        size=p.size,  # as planned: a file changed since is never taken for untouched
        mtime=p.mtime,
        fp=fp,
        fp_len=fp_len,
        done=done,
        format=fmt or (e.format if e is not None else None),
        head=base64.b64encode(head).decode(),
    )


def _where(p: Probe) -> str:
    """The path of ``p``'s file now: where it was opened, or where logrotate renamed it to in
    its rotation set; where it was if it is gone."""
    if file_ident(p.key) == p.ident:
        return p.key
    for other in rotated_siblings(p.key):
        if file_ident(other) == p.ident:
            return os.path.abspath(other)
    return p.key


def _stat_at(path: str) -> tuple[tuple[int, int], int, float] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino), st.st_size, st.st_mtime


def _still_there(e: Entry, plan: Plan) -> str | None:
    """Where ``e``'s file is, if it is still in its rotation set though no candidate matched it:
    a directory read while logrotate renames files in it may miss one, and forgetting it would
    make the next run read it whole again. ``None`` when it is gone (or holds other content)."""
    if any(q.ident == e.ident for q in plan.probes):
        return None  # it was looked at: other content now
    for path in [e.path, *rotated_siblings(e.path)]:
        if file_ident(path) != e.ident:
            continue
        try:
            p = probe(path)
        except FileNotFoundError:
            return None
        if p is None:
            return None
        try:
            return os.path.abspath(path) if p.ident == e.ident and matches(e, p) else None
        finally:
            os.close(p.fd)
    return None


def _named_in_set(p: Probe, plan: Plan) -> bool:
    """Whether ``p`` is only here because a file of its rotation set was named."""
    return any(rotation_set(n) == rotation_set(p.key) for n in plan.named)


def _length(p: Probe) -> tuple[int, int]:
    """(offset just past its last complete line, lines) of a plain file skipped whole, so that
    lines added to it later are read and numbered right; a compressed one is finished, its
    length never needed."""
    if p.compressed:
        return 0, 0
    pos = end = lines = 0
    with os.fdopen(os.dup(p.fd), "rb") as f:
        f.seek(0)
        while block := f.read(1 << 20):
            if (nl := block.rfind(b"\n")) >= 0:
                end = pos + nl + 1
                lines += block.count(b"\n")
            pos += len(block)
    return end, lines


def remove_stale_temps(path: str) -> None:
    """Temp files a run on this state file left when it was killed while saving: only ours,
    and only while holding the lock, so no run is still writing one."""
    d, name = os.path.split(path)
    for tmp in glob.glob(os.path.join(glob.escape(d), glob.escape(_temp_prefix(name)) + "*.tmp")):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _temp_prefix(name: str) -> str:
    return f".dropscan-state-{name}."


def _nothing_new(e: Entry, p: Probe) -> bool:
    """Known without reading: a finished compressed file untouched since, or a plain file
    whose size is where the last run stopped."""
    if p.compressed:
        return e.done and p.ident == e.ident and p.size == e.size and p.mtime == e.mtime
    return p.size == e.offset


# --- the state file --------------------------------------------------------------------------
_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "dev": (int,),
    "ino": (int,),
    "offset": (int,),
    "lines": (int,),
    "size": (int,),
    "mtime": (int, float),
    "fp": (str,),
    "fp_len": (int,),
    "done": (bool,),
    "format": (str, type(None)),
    "head": (str,),
}


def load(path: str) -> list[Entry]:
    """The entries of a state file; none if it does not exist yet. A file that is not a
    dropscan state file (or is damaged) is a `UsageError` naming ``--reset-state``."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read the state file: {getattr(e, 'strerror', None) or e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: damaged state file ({e.msg} at line {e.lineno}); {RESET_HINT}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UsageError(f"{path}: not a dropscan state file; {RESET_HINT}, or choose another --state file")
    version = doc.get("version")
    if type(version) is not int or version not in (1, VERSION):
        raise UsageError(
            f"{path}: state file version {version!r}, this dropscan reads versions 1 and {VERSION}; {RESET_HINT}"
        )
    types = {k: t for k, t in _TYPES.items() if version > 1 or k != "head"}
    files = doc.get("files")
    if not isinstance(files, list):
        raise UsageError(f"{path}: damaged state file (no list of files); {RESET_HINT}")
    out = []
    for i, item in enumerate(files):
        bad = not isinstance(item, dict) or set(item) != set(types)
        bad = bad or any(
            not isinstance(item[k], t) or (isinstance(item[k], bool) and bool not in t) for k, t in types.items()
        )
        bad = bad or not _is_base64(item.get("head", ""))
        if bad:
            raise UsageError(f"{path}: damaged state file (file entry {i + 1} is malformed); {RESET_HINT}")
        out.append(Entry(**item))
    return out


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True


def save(path: str, entries: list[Entry]) -> None:
    """Replace the state file atomically: a temp file in the same directory, fsync, rename,
    fsync the directory. A reader sees the old state or the new one, never half of one."""
    d = os.path.dirname(os.path.abspath(path))
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": [asdict(e) for e in entries],
    }
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(os.path.basename(path)), suffix=".tmp", dir=d)
    except OSError as e:
        raise UsageError(f"{path}: cannot write the state file: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


__all__ = ["FORMAT", "VERSION", "Entry", "Incremental", "Plan", "load", "save"]
