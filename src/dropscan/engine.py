"""Running the core over sources: one process, or a pool over files, byte ranges and chunks.

`Scan` is an iterable of findings in (file, line) order, whatever the number of jobs. With one
job it streams chunk by chunk; with more, work goes to a process pool in units, and results are
consumed in submission order, so output is deterministic:

* a large plain file is split into byte ranges at line boundaries, each read by its worker;
* a compressed file (gzip, bzip2, xz, zstd; it cannot be seeked into) is decompressed here, in
  the parent, and its line-aligned chunks are shipped to the workers one unit each (through a
  temp file each, deleted once read), with a bounded look-ahead (`Scan.unit_results`): the
  parent inflates (ISA-L for gzip: about 0.1 s for the 228 MB benchmark log) while the workers
  scan, so one big ``.gz`` gets every core.
  Line numbers are shifted as for byte ranges; offsets are those of the decompressed stream.

Rejected lines go to temp files, never into memory. The unit of another engine (Dask, whose
workers may not share the parent's memory or disk) stays the whole compressed file.

Incremental runs (sources carrying a `Resume`, see `dropscan.state`) always take the one-process
path: it starts each file at its resume offset and records in ``FileSummary.end`` where it
stopped, which the state needs; a night's increment is small.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .detect.attribution import Network, parse_networks
from .detect.findings import Finding
from .detect.scanner import ChunkResult, Scanner
from .detect.signatures import SignatureSet
from .errors import InputError
from .formats import compile_format, detect_format
from .report.hosts import HostRule
from .sources.files import CHUNK_SIZE, Source, expand_paths, open_blocks, read_chunks, read_range, split_ranges

if TYPE_CHECKING:  # Sigma is imported only by a run with --sigma (start-up time)
    from .detect.sigma.load import SigmaPack

SPILL_FINDINGS = 20_000
POOL_MIN_BYTES = 32 << 20  # below this a process pool costs more than it saves
MIN_PART = 32 << 20  # the smallest byte range a plain file is split into
COMPRESSION_ESTIMATE = 4  # a compressed file counts this many times its size (logs shrink 5-15x)


@dataclass(slots=True)
class FileSummary:
    path: str
    format: str | None = None
    lines: int = 0
    records: int = 0
    rejected: int = 0
    findings: int = 0
    unscanned: int = 0  # lines a deterministic bound stopped short (each one is also a finding)
    error: str | None = None
    skipped: str | None = None  # why a file found in a directory walk was not scanned
    first: datetime | None = None  # the times of its first and last records (see `last_record_time`)
    last: datetime | None = None
    spanned: bool = False  # its first record was seen (``first`` is its time)
    end: int | None = None  # one-process path: decompressed offset just past the last line scanned
    finished: bool = False  # one-process path: read to its end, without an error
    host: str | None = None  # the receiving host of the lines that log none, and where it came from
    host_source: str | None = None
    logged_host: int = 0  # findings whose receiving host was logged on the line itself

    @property
    def status(self) -> str:
        """``failed``, ``skipped``, ``findings`` or ``clean``: nothing found is not nothing read."""
        if self.error:
            return "failed"
        if self.skipped:
            return "skipped"
        return "findings" if self.findings else "clean"

    def span(self, first: Found | None, last: Found | None) -> None:
        """Extend by the next piece of the file read: the times of its first and last records."""
        if first is not None and not self.spanned:
            self.first, self.spanned = first[0], True
        if last is not None:
            self.last = last[0]

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "status": self.status,
            "format": self.format,
            "lines": self.lines,
            "records": self.records,
            "rejected": self.rejected,
            "findings": self.findings,
            "unscanned": self.unscanned,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "error": self.error,
            "skipped": self.skipped,
            "host": {"name": self.host, "source": self.host_source, "logged_on_findings": self.logged_host},
        }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


Found = tuple[datetime | None]  # a record was found; its time (None: the format logs none)


def _record_time(line: bytes, fmt) -> Found | None:
    """``(time,)`` of a line that is a request record; ``None`` for any other line (a W3C
    ``#Fields`` header parses, as an empty record)."""
    rec = fmt.parse(line) if line.strip() else None
    if rec is None or (rec.time is None and rec.request is None and rec.target is None):
        return None
    return (rec.time,)


def first_record_time(chunk: bytes, fmt) -> Found | None:
    """The time of the chunk's first record (``None`` when it has none)."""
    if fmt is None:
        return None
    start = 0
    while start < len(chunk):
        end = chunk.find(b"\n", start)
        end = len(chunk) if end < 0 else end
        if (found := _record_time(chunk[start:end], fmt)) is not None:
            return found
        start = end + 1
    return None


def last_record_time(chunk: bytes, fmt) -> Found | None:
    """The time of the chunk's last record. With `first_record_time`, the time span a file
    covers is the times of its first and last records: the same for any chunking, so for any
    engine and number of jobs; each costs one parse in the usual chunk."""
    if fmt is None:
        return None
    end = len(chunk) - chunk.endswith(b"\n")
    while end >= 0:
        start = chunk.rfind(b"\n", 0, end) + 1
        if (found := _record_time(chunk[start:end], fmt)) is not None:
            return found
        end = start - 1
    return None


@dataclass(slots=True)
class ScanOptions:
    log_format: str | None = None  # a format name or string (dropscan.formats); None: detect per file
    signatures: SignatureSet | None = None  # None: the built-in pack
    jobs: int = 1
    fast: bool = True
    keep_rejects: bool = False
    since: datetime | None = None
    until: datetime | None = None
    chunk_size: int = CHUNK_SIZE
    # which findings are reported (`dropscan.suppress.FindingFilter`: .keep(f), .summary());
    # applied in this process only, where findings are counted
    finding_filter: Any = None
    trusted_proxies: tuple[str, ...] = ()  # --trusted-proxy CIDRs (see dropscan.attribution)
    host: str | None = None  # --host
    host_from: str | None = None  # --host-from pattern
    named: tuple[str, ...] = ()  # the paths named on the command line (the path rule reads below them)
    sigma: SigmaPack | None = None  # Sigma rules to run next to the signatures (scan --sigma)

    def host_rule(self) -> HostRule:
        return HostRule(self.host, self.host_from, list(self.named))

    def sigs(self) -> SignatureSet:
        if self.signatures is None:
            self.signatures = default_signatures()
        return self.signatures


_DEFAULT_SIGS: list[SignatureSet] = []


def default_signatures() -> SignatureSet:
    if not _DEFAULT_SIGS:
        _DEFAULT_SIGS.append(SignatureSet.load())
    return _DEFAULT_SIGS[0]


# --- per-process compiled scanners -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScannerSpec:
    """What a worker needs to build (once) the same Scanner as the parent."""

    documents: tuple[tuple[str, str], ...]
    digest: str
    fast: bool
    trusted: tuple[Network, ...] = ()
    sigma: SigmaPack | None = None

    @classmethod
    def of(
        cls, sigs: SignatureSet, fast: bool, trusted: tuple[Network, ...] = (), sigma: SigmaPack | None = None
    ) -> ScannerSpec:
        return cls(tuple(sigs.documents), sigs.digest, fast, trusted, sigma)


_SCANNERS: dict[tuple, Scanner] = {}


def get_scanner(spec: ScannerSpec, sigs: SignatureSet | None = None) -> Scanner:
    key = (spec.digest, spec.fast, spec.trusted, spec.sigma.digest if spec.sigma else None)
    sc = _SCANNERS.get(key)
    if sc is None:
        sigs = sigs or SignatureSet(list(spec.documents), len(spec.documents))  # checked by the parent
        sc = _SCANNERS[key] = Scanner(sigs, fast=spec.fast, trusted=spec.trusted, sigma=spec.sigma)
    return sc


def in_window(f: Finding, since: datetime | None, until: datetime | None) -> bool:
    """Whether a finding's time is inside [since, until); findings without a time are kept."""
    if f.timestamp is None:
        return True
    return (since is None or f.timestamp >= since) and (until is None or f.timestamp < until)


def name_host(f: Finding, hosts: HostRule) -> Finding:
    """Set the finding's receiving host (`dropscan.hosts`)."""
    f.host = hosts(f)
    return f


# --- one unit of work ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Unit:
    path: str
    format: str | None
    start: int | None = None  # byte range of a plain file, else the whole source
    end: int | None = None
    unrecognised: bool = False  # its first lines are in no known format: not scanned
    read_error: str | None = None  # the read error after its lines (an ``unrecognised`` file's, or at a file_end)
    # shipped by the parent: decompressed lines of a compressed file, ``start``..``end`` their
    # offsets in the decompressed stream; ``b""`` ends the file (``read_error``: how), not scanned
    data: bytes | None = None
    read: int = 0  # with ``data``: bytes of the file read on disk so far (for progress)
    data_file: str | None = None  # ``data`` spooled to a file on a disk shared with the worker

    @property
    def shipped(self) -> bool:
        """Its lines come with it (in ``data`` or ``data_file``), not from a read of ``path``."""
        return self.data is not None or self.data_file is not None

    @property
    def file_end(self) -> bool:
        """The end of a shipped file: no lines, only how the file ended."""
        return self.data is not None and not self.data


@dataclass(slots=True)
class UnitResult:
    counts: ChunkResult
    findings_file: str | None = None
    rejects_file: str | None = None
    error: str | None = None
    first: Found | None = None  # its first and last records' times (`first_record_time`)
    last: Found | None = None


def scan_unit(spec: ScannerSpec, unit: Unit, opts: ScanOptions, tmpdir: str | None) -> UnitResult:
    """Scan one unit in a worker; line numbers are relative to the unit's first line. With a
    ``tmpdir`` (a disk shared with the caller), rejects and large finding lists go to files there;
    without one (Dask workers on other machines), they travel in the result."""
    scanner = get_scanner(spec)
    fmt = compile_format(unit.format) if unit.format else None
    hosts = opts.host_rule()
    total = ChunkResult()
    span = FileSummary(unit.path)  # only its time span
    rej = spill = None
    error = None
    try:
        if unit.shipped:
            data = _unspool(unit.data_file) if unit.data_file is not None else unit.data
            chunks = read_chunks(iter((data,)), opts.chunk_size, unit.start)
        elif unit.start is not None:
            chunks = read_range(unit.path, unit.start, unit.end, opts.chunk_size)
        else:
            chunks = read_chunks(open_blocks(Source(unit.path), opts.chunk_size), opts.chunk_size)
        for chunk, off in chunks:
            before = total.records
            for r in scanner.scan_pieces(
                chunk, fmt, log_file=unit.path, offset=off, line_no=total.lines + 1, keep_rejects=opts.keep_rejects
            ):
                if r.rejects and tmpdir is not None:
                    if rej is None:
                        rej = tempfile.NamedTemporaryFile("wb", dir=tmpdir, suffix=".rej", delete=False)
                    rej.writelines(x if x.endswith(b"\n") else x + b"\n" for x in r.rejects)
                    r.rejects = []
                r.findings = [name_host(f, hosts) for f in r.findings if in_window(f, opts.since, opts.until)]
                total.add(r)
                if tmpdir is not None and len(total.findings) > SPILL_FINDINGS:  # spilled as they come
                    if spill is None:
                        spill = tempfile.NamedTemporaryFile("wb", dir=tmpdir, suffix=".pkl", delete=False)
                    pickle.dump(total.findings, spill, protocol=pickle.HIGHEST_PROTOCOL)
                    total.findings = []
            if total.records > before:
                span.span(first_record_time(chunk, fmt) if not span.spanned else None, last_record_time(chunk, fmt))
    except InputError as e:
        error = str(e)
    finally:
        for fh in (rej, spill):
            if fh is not None:
                fh.close()
    result = UnitResult(
        total,
        rejects_file=rej.name if rej else None,
        error=error,
        first=(span.first,) if span.spanned else None,
        last=(span.last,) if span.spanned else None,
    )
    if spill is not None:  # the last findings follow the spilled ones, in order
        with open(spill.name, "ab") as fh:
            pickle.dump(total.findings, fh, protocol=pickle.HIGHEST_PROTOCOL)
        result.findings_file, total.findings = spill.name, []
    return result


# --- the scan ----------------------------------------------------------------------------------
class Scan:
    """Iterate to get findings in (file, line) order; ``files`` holds one summary per source."""

    def __init__(
        self,
        paths: list[str],
        options: ScanOptions | None = None,
        on_reject: Callable[[str, bytes], None] | None = None,
        sources: list[Source] | None = None,
    ):
        self.options = options or ScanOptions()
        self.on_reject = on_reject
        self.on_unscanned: Callable[[Finding], None] | None = None  # told of each line a bound cut short
        if sources is None:
            sources, self.errors = expand_paths(paths)
        else:
            self.errors = []
        self.sources = sources
        self.files: list[FileSummary] = []
        # called after every chunk or unit of work (a progress display reads `progress_info`)
        self.on_progress: Callable[[Scan], None] | None = None
        self._bytes_done = 0  # on disk, of the sources and byte ranges finished
        self._tell: Callable[[], int] | None = None  # position in the source being read inline
        self._current = 0
        self._bytes_total: int | None = -1
        sigs = self.options.sigs()
        if not self.options.named:
            self.options.named = tuple(paths)
        self.spec = ScannerSpec.of(
            sigs, self.options.fast, parse_networks(self.options.trusted_proxies), self.options.sigma
        )
        self.scanner = get_scanner(self.spec, sigs)
        self.hosts = self.options.host_rule()
        self._fixed_format = compile_format(self.options.log_format) if self.options.log_format else None

    @property
    def totals(self) -> dict:
        t = {
            k: sum(getattr(f, k) for f in self.files) for k in ("lines", "records", "rejected", "findings", "unscanned")
        }
        t["files"] = len(self.files)
        t["errors"] = len(self.errors) + sum(1 for f in self.files if f.error)
        t["unread_inputs"] = len(self.errors)  # paths that never became a file (missing, unreadable, a device)
        for status in ("clean", "findings", "failed", "skipped"):
            t[f"{status}_files"] = sum(1 for f in self.files if f.status == status)
        t["first"] = _iso(min((f.first for f in self.files if f.first), default=None))
        t["last"] = _iso(max((f.last for f in self.files if f.last), default=None))
        t["formats"] = sorted({f.format for f in self.files if f.format})
        return t

    def summary(self) -> dict:
        """What the scan covered: ``complete`` (nothing failed), ``errors``, ``totals`` and
        per-file ``files`` (each with its ``status``: clean, findings, failed or skipped)."""
        errors = list(self.errors) + [f.error for f in self.files if f.error]
        if self.files and all(f.skipped for f in self.files):
            errors.append(f"no recognised access log among the {len(self.files)} file(s) found: all skipped")
        out = {
            "complete": not errors,
            "errors": errors,
            "totals": self.totals,
            "files": [f.as_dict() for f in self.files],
        }
        if self.options.finding_filter is not None:
            out["filtered"] = self.options.finding_filter.summary()
        if self.options.sigma is not None:
            out["sigma"] = self.options.sigma.summary()
        return out

    def progress_info(self) -> dict:
        """Where the scan is: files started of all, bytes read on disk of the total (None when
        stdin makes it unknown), lines and findings so far, the file being read."""
        if self._bytes_total == -1:
            self._bytes_total = None if any(s.is_stdin for s in self.sources) else self._input_size()
        if self._tell is not None:
            try:
                self._current = self._tell()
            except (OSError, ValueError):  # read to the end and closed: the last position holds
                pass
        return {
            "files": len(self.files),
            "files_total": len(self.sources),
            "bytes": self._bytes_done + self._current,
            "bytes_total": self._bytes_total,
            "lines": sum(f.lines for f in self.files),
            "findings": sum(f.findings for f in self.files),
            "current": self.files[-1].path if self.files else None,
        }

    def _tick(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self)

    def _opened(self, tell: Callable[[], int]) -> None:
        self._tell, self._current = tell, 0

    def _finished(self, src: Source) -> None:
        self._tell, self._current = None, 0
        if not src.is_stdin:
            try:
                self._bytes_done += os.path.getsize(src.path)
            except OSError:
                pass
        self._tick()

    def __iter__(self) -> Iterator[Finding]:
        for f in self._findings():
            if self.on_unscanned is not None and f.unscanned:
                self.on_unscanned(f)
            yield f

    def _findings(self) -> Iterator[Finding]:
        resumed = any(src.resume is not None for src in self.sources)
        if self.options.jobs > 1 and not resumed and self._input_size(COMPRESSION_ESTIMATE) >= POOL_MIN_BYTES:
            yield from self._scan_pool()
        else:
            for src in self.sources:
                yield from self._scan_inline(src)

    def _input_size(self, compressed: int = 1) -> int:
        """Bytes on disk to scan (stdin counts as large: its size is unknown); a compressed
        file counts ``compressed`` times its size (to choose the pool by the text to scan)."""
        total = 0
        for src in self.sources:
            if src.is_stdin:
                return POOL_MIN_BYTES
            try:
                size = os.path.getsize(src.path)
                total += size * compressed if compressed > 1 and size and src.compression() else size
            except OSError:
                pass
        return total

    # one process, streaming
    def _new_summary(self, path: str) -> FileSummary:
        s = FileSummary(path)
        s.host, s.host_source = self.hosts.source(path)
        self.files.append(s)
        return s

    def _take(self, s: FileSummary, f: Finding) -> Finding | None:
        """The finding with its receiving host named, counted; None when the filter holds it
        back (the filter counts it)."""
        f = name_host(f, self.hosts)
        if self.options.finding_filter is not None and not self.options.finding_filter.keep(f):
            return None
        s.findings += 1
        if f.vhost:
            s.logged_host += 1
        return f

    def _scan_inline(self, src: Source, summary: FileSummary | None = None) -> Iterator[Finding]:
        s = summary or self._new_summary(src.path)
        opts = self.options
        fmt = self._fixed_format
        resume = src.resume
        if fmt is None and resume is not None and resume.format:
            fmt = compile_format(resume.format)  # found on the file's first lines, not on a few new ones
        base = resume.line if resume else 0
        s.end = resume.offset if resume else 0
        try:
            chunks = read_chunks(
                open_blocks(src, opts.chunk_size, self._opened),
                opts.chunk_size,
                start_offset=s.end,
                keep_partial=resume is None or resume.keep_partial,
            )
            for i, (chunk, off) in enumerate(chunks):
                if i == 0 and fmt is None:
                    fmt = detect_format(chunk[: 1 << 20].split(b"\n"))
                    if fmt is None:
                        self._unrecognised(s, src, _read_error(chunks))
                        break  # never scanned as raw text: nothing is acted on from what is not a log
                s.format = fmt.name if fmt else None
                before = s.records
                for r in self.scanner.scan_pieces(
                    chunk,
                    fmt,
                    log_file=src.path,
                    offset=off,
                    line_no=base + s.lines + 1,
                    keep_rejects=opts.keep_rejects and self.on_reject is not None,
                ):
                    self._account(s, r)
                    for line in r.rejects:
                        self.on_reject(src.path, line)
                    for f in r.findings:
                        if in_window(f, opts.since, opts.until):
                            taken = self._take(s, f)
                            if taken is not None:
                                yield taken
                if s.records > before:
                    s.span(first_record_time(chunk, fmt) if not s.spanned else None, last_record_time(chunk, fmt))
                s.end = off + len(chunk)  # only once every finding of the chunk was taken
                self._tick()
            s.finished = s.error is None
        except InputError as e:
            s.error = str(e)
        self._check(s, fmt)
        self._finished(src)

    @staticmethod
    def _unrecognised(s: FileSummary, src: Source, read_error: str | None = None) -> None:
        """A file whose first lines are in no known format (`detect_format`): skipped when a
        directory walk found it, an error when it was named (``--log-format`` says what it is).
        A read error right after those lines (a truncated archive) is the error to report."""
        if read_error:
            s.error = read_error
        elif src.walked:
            s.skipped = "not a recognised access log"
        else:
            s.error = f"{src.path}: no known log format matches its first lines (use --log-format)"

    def _account(self, s: FileSummary, r: ChunkResult) -> None:
        s.lines += r.lines
        s.records += r.records
        s.rejected += r.rejected
        s.unscanned += r.unscanned

    def _check(self, s: FileSummary, fmt) -> None:
        if s.error is None and s.lines and not s.records and fmt is not None:
            s.error = f"{s.path}: no line matches the log format {fmt.name!r}"

    # units of work (files, byte ranges of large plain files) and their results, in order
    def plan(
        self, parts: Callable[[Source], int], min_part: int | None = None, ship: bool = False
    ) -> Iterator[tuple[Source, Unit | None]]:
        """The units to scan, in (file, offset) order: a plain file in about ``parts(source)``
        byte ranges, anything else whole, or with ``ship`` read here and shipped chunk by chunk
        (`_ship`); stdin is ``None`` (read by the caller, in order)."""
        for src in self.sources:
            if src.is_stdin:
                yield src, None
                continue
            fmt, seen, error = (self._fixed_format, True, None) if self._fixed_format else self._detect(src)
            spec = fmt.name if fmt else None  # a name that compiles again (dropscan.formats)
            if fmt is None and seen:
                yield src, Unit(src.path, None, unrecognised=True, read_error=error)
                continue
            try:
                plain = src.compression() is None
                size = os.path.getsize(src.path)
            except OSError:
                plain, size = False, 0
            if plain and size > 0:
                for a, b in split_ranges(size, parts(src), min_part or MIN_PART):
                    yield src, Unit(src.path, spec, a, b)
            elif ship:
                for unit in self._ship(src, spec):
                    yield src, unit
            else:
                yield src, Unit(src.path, spec)

    def _ship(self, src: Source, spec: str | None) -> Iterator[Unit]:
        """A file that cannot be split into byte ranges (compressed, an archive member, empty),
        decompressed here: the same chunks of whole lines as the one-process path reads, one
        unit each, then a unit that ends the file and says how (a truncated archive's error)."""
        tell: list[Callable[[], int]] = []
        end, read, error = 0, 0, None
        try:
            blocks = open_blocks(src, self.options.chunk_size, tell.append)
            for chunk, off in read_chunks(blocks, self.options.chunk_size):
                end = off + len(chunk)
                try:
                    read = tell[0]()
                except (IndexError, OSError, ValueError):  # read to its end and closed: the last position holds
                    pass
                yield Unit(src.path, spec, off, end, data=chunk, read=read)
        except InputError as e:
            error = str(e)
        yield Unit(src.path, spec, end, end, read_error=error, data=b"")

    def _detect(self, src: Source) -> tuple[object | None, bool, str | None]:
        """The file's format, whether it had any bytes to tell (an empty or unreadable file is
        no unrecognised one: the scan says what it is), and for an unrecognised one the read
        error right after its first lines, if any."""
        chunks = read_chunks(open_blocks(src), 1 << 20)
        try:
            for chunk, _ in chunks:
                fmt = detect_format(chunk.split(b"\n"))
                return fmt, True, None if fmt else _read_error(chunks)
        except InputError:
            return None, False, None
        return None, False, None

    def unit_results(self, tmpdir: str | None) -> Iterator[tuple[Source, Unit | None, Callable[[], UnitResult] | None]]:
        """(source, unit, result getter) in order, computed by a local process pool with a
        bounded look-ahead. Other engines (Dask) override this."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        jobs = self.options.jobs
        # what a worker reads of the options (the packs travel in ``spec``; unpickling the
        # signature pack again with every unit took 46 ms)
        opts = dataclasses.replace(self.options, signatures=None, sigma=None, finding_filter=None)
        ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            pending: deque = deque()
            units = self.plan(lambda _src: jobs, ship=True)
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * jobs:  # bounds the shipped bytes held
                    try:
                        src, unit = next(units)
                    except StopIteration:
                        exhausted = True
                        break
                    run = unit is not None and not unit.unrecognised and not unit.file_end
                    if run:  # a shipped unit's lines wait on disk, not in the look-ahead too
                        unit = _spool(unit, tmpdir)
                    fut = pool.submit(scan_unit, self.spec, unit, opts, tmpdir) if run else None
                    pending.append((src, unit, fut.result if fut else None))
                if not pending:
                    return
                yield pending.popleft()

    def _scan_pool(self) -> Iterator[Finding]:
        """Consume unit results in order: shift line numbers of later byte ranges by the lines
        of the earlier ones, merge summaries, pass rejects on, and yield findings."""
        with tempfile.TemporaryDirectory(prefix="dropscan-") as tmp:
            current: FileSummary | None = None
            for src, unit, result in self.unit_results(tmp):
                if current is None or current.path != src.path or unit is None or unit.start in (None, 0):
                    if current is not None:
                        self._check(current, None if current.format is None else compile_format(current.format))
                    current = self._new_summary(src.path)
                if unit is None:  # stdin is read here, in order
                    yield from self._scan_inline(src, current)
                    continue
                if unit.unrecognised:
                    self._unrecognised(current, src, unit.read_error)
                    continue
                current.format = compile_format(unit.format).name if unit.format else None
                if unit.file_end:
                    current.error = unit.read_error
                    self._finished(src)
                    continue
                res = result()
                base = current.lines
                self._account(current, res.counts)
                current.span(res.first, res.last)
                if res.error:
                    current.error = res.error
                for line in _take_rejects(res):
                    if self.on_reject is not None:
                        self.on_reject(src.path, line)
                for f in _take_findings(res):
                    f.line_no += base
                    taken = self._take(current, f)
                    if taken is not None:
                        yield taken
                if unit.start is None:
                    self._finished(src)
                elif unit.shipped:
                    self._current = unit.read
                    self._tick()
                else:
                    self._bytes_done += unit.end - unit.start
                    self._tick()
            if current is not None:
                self._check(current, None if current.format is None else compile_format(current.format))


def _spool(unit: Unit, tmpdir: str | None) -> Unit:
    """A shipped unit with its lines in a file of ``tmpdir`` instead: the worker reads them
    with one read and deletes the file (through the pool's pipe they cost about 0.2 s CPU more
    on the 228 MB benchmark log, 0.1 s of the wall time on 2 cores). Sent as they are when the
    file cannot be written (a full disk)."""
    if unit.data is None or tmpdir is None:
        return unit
    try:
        with tempfile.NamedTemporaryFile("wb", dir=tmpdir, suffix=".lines", delete=False) as fh:
            fh.write(unit.data)
    except OSError:
        return unit
    return dataclasses.replace(unit, data=None, data_file=fh.name)


def _unspool(path: str) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read()
    os.unlink(path)
    return data


def _read_error(chunks: Iterator) -> str | None:
    """The `InputError` the next chunk ends in (a truncated archive), else ``None``."""
    try:
        next(chunks, None)
    except InputError as e:
        return str(e)
    return None


def _take_rejects(res: UnitResult) -> Iterator[bytes]:
    if res.rejects_file:
        with open(res.rejects_file, "rb") as fh:
            yield from fh
        os.unlink(res.rejects_file)
    yield from res.counts.rejects


def _take_findings(res: UnitResult) -> Iterator[Finding]:
    """A unit's findings in order: the spilled batches, one at a time, else those it carries."""
    if res.findings_file:
        with open(res.findings_file, "rb") as fh:
            while True:
                try:
                    batch = pickle.load(fh)  # noqa: S301 - our own temp file
                except EOFError:
                    break
                yield from batch
        os.unlink(res.findings_file)
        return
    yield from res.counts.findings
