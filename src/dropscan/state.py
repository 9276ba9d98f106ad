"""Incremental scans: remember where each log file was read up to, and next time read only what
is new, across log rotation, without reading a line twice or skipping one.

A file is known by a fingerprint, not by its name or inode: the sha256 of the first
min(1024, size) bytes of its decompressed content (``fp``, over ``fp_len`` bytes), as Filebeat and
fail2ban do. Name and inode alone lose data: after rotation a new ``access.log`` can get the inode
of the file just deleted, and after ``copytruncate`` the same inode holds other lines
(../shared/reference/ecosystem.md §6.2-6.3). For each file read, the state keeps::

    {path, dev, ino, offset, lines, size, mtime, fp, fp_len, done, format}

``offset`` counts bytes of the decompressed stream consumed, always just past a complete line (a
line still being written is left for the next run); ``lines`` keeps line numbers absolute across
runs; ``done`` marks a compressed file read to its end (it cannot grow, so later runs skip it on
``stat`` alone); ``format`` is the log format found on the file's first lines.

Planning a run (`Incremental.plan`), for every file to read:

* A known file (same fingerprint, in the same rotation set or with the same dev/ino) resumes at
  its offset: appended lines, or the unread tail of a file that was rotated by rename
  (``access.log`` -> ``access.log.1``), compressed (``.2.gz``: decompressed, ``offset`` bytes
  skipped) or copied by ``copytruncate``.
* An unknown file is read from the start: the new ``access.log`` after rotation, the truncated
  file after ``copytruncate`` (its size fell below the offset, or its first bytes changed), a new
  file that reuses an old inode (its fingerprint differs).
* When a path named on the command line is no longer the file the state knew, its rotated
  predecessor is looked for by fingerprint among ``X.1``, ``X.0``, ``X-YYYYMMDD*``, ``X.1.gz``,
  ``X.2.gz``...; its tail is read, then any file rotated after it, then the new file.
* A file that matches an entry another candidate matched better (a copy being compressed next
  to the original) is not read twice.

`Incremental.commit` records where each file stopped, once the caller has written and flushed
its output: the state file is replaced atomically (temp file in the same directory, fsync,
``os.replace``), so a crash in between reports the same findings again rather than losing them.
A lock (`dropscan.lock`) keeps two runs off one state file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .engine import Scan, ScanOptions
from .errors import InputError, UsageError
from .lock import exclusive
from .sources import COMPRESSED_SUFFIXES, Resume, Source, detect_compression, expand_paths, read_head, rotation_key

FORMAT = "dropscan-state"
VERSION = 1
FP_BYTES = 1024
RESET_HINT = "run once with --reset-state to start over (that run reads every log from the start)"


@dataclass(slots=True)
class Entry:
    """Where the last run stopped in one file (the JSON object in the state file)."""

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

    @property
    def ident(self) -> tuple[int, int]:
        return (self.dev, self.ino)


@dataclass(slots=True)
class Probe:
    """A candidate file as it is now: ``stat``, compression, and (read lazily) its first bytes."""

    path: str  # as the user gave it (and as findings report it)
    key: str  # absolute
    dev: int
    ino: int
    size: int
    mtime: float
    compressed: bool
    _head: bytes | None = None
    unreadable: bool = False  # its first bytes could not be read (corrupt, gone): the engine will say

    @property
    def ident(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    def head(self) -> bytes:
        if self._head is None:
            try:
                head = read_head(self.path, FP_BYTES, self.ident)
            except InputError:
                head = None
            self.unreadable = head is None
            self._head = head or b""
        return self._head


def probe(path: str) -> Probe | None:
    """``None`` when the file cannot be opened: it is read as a new file and the engine says why."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            compressed = detect_compression(f.read(6)) is not None
    except OSError:
        return None
    return Probe(path, os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime, compressed)


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


@dataclass(slots=True)
class Read:
    probe: Probe | None
    entry: Entry | None
    resume: Resume


@dataclass(slots=True)
class Plan:
    """What one run reads: ``sources`` for `engine.Scan`, path errors, and warnings."""

    sources: list[Source] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reads: dict[str, Read] = field(default_factory=dict)  # by source path
    carried: list[Entry] = field(default_factory=list)  # matched, nothing new to read
    matched: set[int] = field(default_factory=set)  # ids of entries a candidate matched
    copies: set[str] = field(default_factory=set)  # candidates holding only what another one holds
    named: set[str] = field(default_factory=set)  # absolute paths the caller named


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
    guarantee (a rotated file whose old content was not found).
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, reset: bool = False):
        self.path = os.fspath(path) if path is not None else None
        self.reset = reset
        self.entries: list[Entry] = []
        self.warnings: list[str] = []
        self._plan: Plan | None = None
        self._lock = None
        self._entered = self.path is None

    # --- lock and load ---------------------------------------------------------------------
    def __enter__(self) -> Incremental:
        if self.path is not None:
            d = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(d):
                raise UsageError(f"{self.path}: the state file's directory does not exist")
            self._lock = exclusive(self.path)
            self._lock.__enter__()
            try:
                self.entries = [] if self.reset else load(self.path)
            except BaseException:
                self.__exit__(None, None, None)
                raise
        self._entered = True
        return self

    def __exit__(self, *exc: Any) -> None:
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
        if not self._entered:
            raise RuntimeError("use Incremental as a context manager: it holds the state's lock")
        sources, errors = expand_paths(paths)
        if any(s.is_stdin for s in sources):
            raise UsageError("stdin (-) cannot be read incrementally (--state, --follow): give the log files")
        plan = Plan(errors=errors, named={os.path.abspath(p) for p in paths})
        if self.path is not None and os.path.abspath(self.path) in {os.path.abspath(s.path) for s in sources}:
            raise UsageError(f"{self.path}: the state file is one of the logs to scan; keep it elsewhere")
        probes: dict[str, Probe | None] = {}
        by_key = {e.path: e for e in self.entries}
        named = [s.path for s in sources]
        walked = {s.path for s in sources if s.walked}
        order: list[str] = []
        searched: list[tuple[Entry, list[str]]] = []  # a replaced named file's entry and its siblings
        for path in named:
            probes[path] = p = probe(path)
            e = by_key.get(os.path.abspath(path))
            if e is not None and p is not None and not matches(e, p):
                sibs = [s for s in rotated_siblings(path) if s not in probes and s not in named]
                for s in sibs:
                    probes[s] = probe(s)
                order.extend(sibs)
                searched.append((e, sibs))
            order.append(path)

        assigned = self._assign(order, probes, plan)
        plan.copies.update(_being_compressed(order, probes, assigned))
        dropped: set[str] = set()
        for e, sibs in searched:
            at = next((i for i, s in enumerate(sibs) if assigned.get(s) is e), None)
            dropped.update(sibs if at is None else sibs[:at])  # older than the predecessor: read before
        readable = {p.key for p in probes.values() if p is not None}
        for e in self.entries:
            if id(e) in plan.matched or e.done or not is_live_name(e.path):
                continue
            if e.path in readable:
                plan.warnings.append(
                    f"{e.path}: replaced since the last run and its old content was not found by fingerprint "
                    f"(looked for {os.path.basename(e.path)}.1, .0, -DATE, .N.gz); lines written to it after "
                    f"line {e.lines} were not read"
                )

        for path in order:
            if path in dropped:
                continue
            p, e = probes[path], assigned.get(path)
            if p is None:
                plan.sources.append(Source(path, Resume(), walked=path in walked or path not in named))
                plan.reads[path] = Read(None, None, Resume())
                continue
            if path in plan.copies:
                continue  # its content is read from another path this run
            if e is not None and _nothing_new(e, p):
                plan.carried.append(replace(e, path=p.key, size=p.size, mtime=p.mtime))
                continue
            p.head()  # now, before the read: the file may be rotated away before commit()
            resume = Resume(
                offset=e.offset if e else 0,
                line=e.lines if e else 0,
                ident=p.ident,
                keep_partial=p.compressed,  # a compressed file is finished: its last line is whole
                format=e.format if e else None,
            )
            plan.sources.append(Source(path, resume, walked=path in walked or path not in named))
            plan.reads[path] = Read(p, e, resume)
        self._plan = plan
        self.warnings = plan.warnings
        return plan

    def _assign(self, order: list[str], probes: dict[str, Probe | None], plan: Plan) -> dict[str, Entry]:
        """Each entry to the candidate that holds it best: same inode, then uncompressed (a
        copy being compressed is incomplete), then same path. ``plan.matched`` gets the ids of
        matched entries, ``plan.copies`` the candidates that matched only entries taken by a
        better one."""
        pairs = []
        for i, path in enumerate(order):
            p = probes[path]
            if p is None:
                continue
            for e in self.entries:
                if matches(e, p):
                    pairs.append(((p.ident == e.ident, not p.compressed, p.key == e.path, -i), path, e))
        pairs.sort(key=lambda x: x[0], reverse=True)
        assigned: dict[str, Entry] = {}
        for _score, path, e in pairs:
            if id(e) in plan.matched:
                if path not in assigned:
                    plan.copies.add(path)
                continue
            if path in assigned:
                continue
            assigned[path] = e
            plan.matched.add(id(e))
            plan.copies.discard(path)
        return assigned

    # --- commit ----------------------------------------------------------------------------
    def commit(self, run: Scan, outputs: Iterable[str | os.PathLike[str] | None] = ()) -> None:
        """Record where each file of ``run`` stopped; call it after the output is written and
        flushed. ``outputs`` (regular files) are fsynced first, so the state never claims lines
        whose findings could still be lost in a crash."""
        for out in outputs:
            if out is not None and os.fspath(out) != "-" and os.path.isfile(out):
                with open(out, "rb") as fh:
                    os.fsync(fh.fileno())
        plan, self._plan = self._plan, None
        if plan is None:
            raise RuntimeError("commit() needs a scan() to commit, once")
        done = {s.path: s for s in run.files}
        kept: list[Entry] = list(plan.carried)
        for path, r in plan.reads.items():
            s = done.get(path)
            if s is None or s.end is None or r.probe is None:
                if r.entry is not None:
                    kept.append(r.entry)  # not read this time: where it was
                continue
            p, e = r.probe, r.entry
            fp, fp_len = (e.fp, e.fp_len) if e else ("", 0)
            if fp_len < FP_BYTES:
                head = p.head()  # taken when planned, from the file that was then read
                if len(head) < FP_BYTES:  # a small file may have grown: know it by more bytes
                    fresher = read_head_or_none(p)
                    head = fresher if fresher is not None and fresher.startswith(head) else head
                if len(head) > fp_len and (e is None or fingerprint(head[:fp_len]) == fp):
                    fp, fp_len = fingerprint(head), len(head)
            if fp_len == 0:
                continue  # empty when planned: nothing to know it by, nothing read
            kept.append(
                Entry(
                    path=p.key,
                    dev=p.dev,
                    ino=p.ino,
                    offset=s.end,
                    lines=r.resume.line + s.lines,
                    size=p.size,
                    mtime=p.mtime,
                    fp=fp,
                    fp_len=fp_len,
                    done=p.compressed and s.error is None,
                    format=s.format or (e.format if e else None),
                )
            )
        claimed = {e.path for e in kept}
        for e in self.entries:
            if id(e) in plan.matched or e.path in claimed:
                continue
            if e.path in plan.named or os.path.exists(e.path):
                kept.append(e)  # another log set on the same state, or a named file gone for now
                claimed.add(e.path)
        self.entries = sorted(kept, key=lambda e: e.path)
        if self.path is not None:
            save(self.path, self.entries)


def _being_compressed(order: list[str], probes: dict[str, Probe | None], assigned: dict[str, Entry]) -> list[str]:
    """Unknown compressed files whose content so far begins a plain file of the same rotation
    set: gzip is still writing (or has not yet removed the original). Reading one would report
    the plain file's lines twice, and a half-written stream as an error; the next run knows it
    by the plain file's fingerprint."""
    plain = [p for path in order if (p := probes[path]) is not None and not p.compressed]
    out = []
    for path in order:
        p = probes[path]
        if p is None or not p.compressed or path in assigned:
            continue
        head = p.head()
        if p.unreadable:
            continue  # corrupt, not unfinished: the engine reports it
        if any(rotation_set(q.key) == rotation_set(p.key) and q.head().startswith(head) for q in plain):
            out.append(path)
    return out


def read_head_or_none(p: Probe) -> bytes | None:
    try:
        return read_head(p.path, FP_BYTES, p.ident)
    except InputError:
        return None


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
    if doc.get("version") != VERSION:
        raise UsageError(
            f"{path}: state file version {doc.get('version')!r}, this dropscan reads version {VERSION}; {RESET_HINT}"
        )
    files = doc.get("files")
    if not isinstance(files, list):
        raise UsageError(f"{path}: damaged state file (no list of files); {RESET_HINT}")
    out = []
    for i, item in enumerate(files):
        bad = not isinstance(item, dict) or set(item) != set(_TYPES)
        bad = bad or any(
            not isinstance(item[k], t) or (isinstance(item[k], bool) and bool not in t) for k, t in _TYPES.items()
        )
        if bad:
            raise UsageError(f"{path}: damaged state file (file entry {i + 1} is malformed); {RESET_HINT}")
        out.append(Entry(**item))
    return out


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
        fd, tmp = tempfile.mkstemp(prefix=".dropscan-state-", suffix=".tmp", dir=d)
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
