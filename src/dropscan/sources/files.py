"""Where lines come from: paths, globs, directories and stdin, decompressed and in age order.

* Compression is detected by magic bytes, never by name: gzip (also multi-member), bzip2, xz
  and zstd. Decompression is incremental, so a truncated or corrupt file still yields every
  line before the damage, then raises `InputError` naming the file.
* A directory means every access-log-like file below it; a rotated set is read oldest first
  (``access.log.3.gz`` … ``access.log.1``, ``access.log``; dateext ``-20261101`` likewise).
* `read_chunks` turns decompressed blocks into chunks of whole lines with their byte offsets.
* A `Source` may carry a `Resume`: start at a byte offset of the decompressed stream, with line
  numbers continuing from an earlier run (incremental scans, see `dropscan.state`).
"""

from __future__ import annotations

import bz2
import glob
import lzma
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InputError
from . import archives

try:  # ISA-L's inflate is 2-3x faster than zlib's; same API, optional
    from isal import isal_zlib as _gzip_zlib
except ImportError:  # pragma: no cover
    _gzip_zlib = zlib
try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None

READ_SIZE = 1 << 20
CHUNK_SIZE = 4 << 20
MAX_LINE = 8 << 20  # a longer line is scanned cut to this many bytes (Apache's own lines stay far below)
STDIN = "-"

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zstd")


def file_ident(path: str) -> tuple[int, int] | None:
    """(device, inode) of what ``path`` names now, following symlinks; None when it names nothing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def detect_compression(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


@dataclass(frozen=True, slots=True)
class Resume:
    """Where an incremental run picks a file up (set by `dropscan.state`, read by the engine)."""

    offset: int = 0  # decompressed bytes already consumed (always just past a newline)
    line: int = 0  # lines already consumed: line numbers continue from here
    fd: int | None = None  # the file as opened when the run was planned: read from it, whatever
    # its name is by now (logrotate may rename it between planning and reading)
    head: bytes = b""  # its first bytes when planned: a plain file whose first bytes change while
    # it is read was truncated and refilled (copytruncate): reading stops before the new content
    keep_partial: bool = False  # read an unterminated last line (only for files that cannot grow)
    format: str | None = None  # the log format found when the file was first read


@dataclass(frozen=True, slots=True)
class Source:
    """One input: a file path, or ``-`` for stdin."""

    path: str
    resume: Resume | None = None
    walked: bool = False  # found in a directory walk (not named): skipped, not an error, when not a log

    @property
    def is_stdin(self) -> bool:
        return self.path == STDIN

    def compression(self) -> str | None:
        if self.is_stdin:
            return None
        with open(self.path, "rb") as f:
            return detect_compression(f.read(6))


def _decompressor(kind: str):
    if kind == "gzip":
        return _gzip_zlib.decompressobj(31)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor()
    if zstandard is None:
        raise InputError("zstd input needs the 'zstandard' package")
    return zstandard.ZstdDecompressor().decompressobj()


_DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError)
if _gzip_zlib is not zlib:
    _DECOMPRESS_ERRORS = (*_DECOMPRESS_ERRORS, _gzip_zlib.error)
if zstandard is not None:
    _DECOMPRESS_ERRORS = (*_DECOMPRESS_ERRORS, zstandard.ZstdError)
FEED = 1 << 10  # compressed bytes per step


def _step(d, kind: str, data) -> tuple[bytes, bytes | memoryview]:
    """Inflate some of ``data``: (output, input left). Output is bounded (about `READ_SIZE`;
    zstd takes no limit, but `FEED` bytes inflate to at most ~32 MiB), so a decompression bomb
    costs time, never memory. Feeding `FEED` bytes at a time also bounds what a corrupt archive
    loses: the output of the step that fails (at most a few KiB of log text)."""
    if kind in ("bzip2", "xz"):
        return d.decompress(data, READ_SIZE), b""  # they keep what they did not consume
    piece, rest = data[:FEED], data[FEED:]
    if kind == "zstd":
        return d.decompress(piece), rest
    out = d.decompress(piece, READ_SIZE)
    tail = d.unconsumed_tail  # only when the output limit was hit (ratio > 1000)
    return out, (tail + bytes(rest) if tail else rest)


def _decompress(f: BinaryIO, kind: str, name: str, first: bytes) -> Iterator[bytes]:
    d = _decompressor(kind)
    data: bytes | memoryview = memoryview(first)
    try:
        while True:
            if not data and (kind not in ("bzip2", "xz") or d.needs_input):
                data = memoryview(f.read(READ_SIZE))
                if not data:
                    break
            out, data = _step(d, kind, data)
            if out:
                yield out
            if d.eof:
                data = d.unused_data + bytes(data)
                if not data:
                    data = f.read(READ_SIZE)
                if not data:
                    return
                if kind == "gzip" and not data.startswith(b"\x1f\x8b") and not data.strip(b"\x00"):
                    return  # trailing zero padding after the last gzip member
                d = _decompressor(kind)  # next member/stream
                data = memoryview(data)
    except _DECOMPRESS_ERRORS as e:
        raise InputError(f"{name}: corrupt {kind} data: {e}") from None
    if not d.eof:
        raise InputError(f"{name}: truncated {kind} data (unexpected end of file)")


def open_blocks(
    source: Source, plain_block: int = READ_SIZE, on_open: Callable[[Callable[[], int]], None] | None = None
) -> Iterator[bytes]:
    """Decompressed bytes of ``source``, block by block (from ``source.resume.offset`` if set).
    Uncompressed input comes in blocks of about ``plain_block`` bytes that end at a line
    boundary, which `read_chunks` passes on without copying. ``on_open`` receives the opened
    file's ``tell`` (bytes read on disk, compressed or not: what a progress display needs)."""
    name = "<stdin>" if source.is_stdin else source.path
    resume = source.resume
    try:
        if source.is_stdin:
            f = sys.stdin.buffer
        elif resume is not None and resume.fd is not None:
            f = _reopen(resume.fd)
        elif archives.split(source.path) is not None and not os.path.exists(source.path):
            f = archives.open_member(source.path)
        else:
            f = open(source.path, "rb")
    except OSError as e:
        raise InputError(f"{name}: cannot open: {e.strerror or e}") from None
    if on_open is not None and not source.is_stdin:
        on_open(f.tell)
    try:
        if not source.is_stdin and _is_device(f):
            raise InputError(f"{name}: a device, not a log file (a device may never end; pipe it to stdin if meant)")
        skip = resume.offset if resume is not None else 0
        try:
            first = f.read(READ_SIZE)
        except OSError as e:
            raise InputError(f"{name}: cannot read: {e.strerror or e}") from None
        kind = detect_compression(first)
        if kind is not None:
            yield from _skip(_decompress(f, kind, name, first), skip)
            return
        if skip > len(first):
            f.seek(skip)
            first = b""
        head = resume.head if resume is not None and resume.fd is not None else b""
        yield from _plain(f, name, first[skip:], plain_block, head)
    finally:
        if not source.is_stdin:
            f.close()


def _is_device(f: BinaryIO) -> bool:
    """Character and block devices (``/dev/zero`` never ends); FIFOs and files are logs' ways."""
    try:
        mode = os.fstat(f.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # an archive member: no file descriptor of its own
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def _reopen(fd: int) -> BinaryIO:
    """A file object of its own on the file ``fd`` is open on, at its start."""
    f = os.fdopen(os.dup(fd), "rb")
    f.seek(0)
    return f


def _same_head(f: BinaryIO, head: bytes) -> bool:
    """Whether the open file still begins with ``head`` (it was not truncated and refilled)."""
    return os.pread(f.fileno(), len(head), 0) == head


def _plain(f: BinaryIO, name: str, first: bytes, plain_block: int, head: bytes = b"") -> Iterator[bytes]:
    """Blocks of whole lines. With ``head``, each block is checked after it was read: if the
    file no longer begins with ``head``, it was truncated (copytruncate) and maybe refilled past
    this point, so the block may hold the new content: it is dropped and reading stops there
    (the old content's rest is in the copy)."""
    block = first or None
    while True:
        try:
            if block is None:
                block = f.read(plain_block)
            if block and not block.endswith(b"\n"):
                block += f.readline(MAX_LINE)  # to the end of the line, unless it is too long
            if head and block and not _same_head(f, head):
                return
        except OSError as e:
            raise InputError(f"{name}: cannot read: {e.strerror or e}") from None
        if not block:
            return
        yield block
        block = None


def _skip(blocks: Iterator[bytes], n: int) -> Iterator[bytes]:
    """``blocks`` without their first ``n`` bytes (a compressed stream cannot seek)."""
    for block in blocks:
        if n >= len(block):
            n -= len(block)
            continue
        yield block[n:] if n else block
        n = 0


def read_head(path: str | int, n: int) -> bytes:
    """The first ``n`` decompressed bytes of a file (a path, or a file descriptor, read from
    the file's start), reading little (for fingerprints)."""
    kind = None
    try:
        with _reopen(path) if isinstance(path, int) else open(path, "rb") as f:
            raw = f.read(max(n, 64))
            kind = detect_compression(raw)
            if kind is None:
                return raw[:n]
            d = _decompressor(kind)
            out = b""
            while len(out) < n and raw:
                out += d.decompress(raw)  # small pieces: a log compresses ~10x, a bomb no further
                raw = d.unused_data if d.eof else b""
                raw = raw or f.read(4096)
                if d.eof:
                    if detect_compression(raw) != kind:
                        break  # end of data (or padding)
                    d = _decompressor(kind)  # next gzip member / stream
            return out[:n]
    except _DECOMPRESS_ERRORS as e:
        if kind is None and isinstance(e, OSError):
            raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
        raise InputError(f"{path}: corrupt {kind} data: {e}") from None


def read_chunks(
    blocks: Iterator[bytes],
    chunk_size: int = CHUNK_SIZE,
    start_offset: int = 0,
    keep_partial: bool = True,
    max_line: int | None = None,
) -> Iterator[tuple[bytes, int]]:
    """Chunks of whole lines and the byte offset where each starts. The last chunk may end
    without a newline (a final line without one is still a line), unless ``keep_partial`` is
    false: then an unterminated last line is held back, as it may be a line still being written.

    Linear in the input, with memory bounded by about ``chunk_size + max_line`` whatever the
    input holds (a file with no newline at all, a device): a line longer than ``max_line`` is
    yielded cut to its first ``max_line`` bytes (default `MAX_LINE`), as a chunk of its own,
    and the rest of it is skipped; it still counts as one line, and later offsets stay exact.
    When the blocks end in an `InputError` (a truncated or corrupt archive), the lines read so
    far are yielded before it is raised."""
    max_line = MAX_LINE if max_line is None else max_line
    pending: list[bytes] = []
    size = 0  # bytes in pending
    whole = 0  # bytes of pending up to and including its last newline
    offset = start_offset
    skipping = False  # inside the rest of a cut line

    def tail() -> bytes:
        last = b"".join(pending)
        return last if keep_partial else last[: last.rfind(b"\n") + 1]

    try:
        for big in blocks:
            if not pending and not skipping and chunk_size <= len(big) <= max_line and big.endswith(b"\n"):
                yield big, offset  # already whole lines, none too long: no copy
                offset += len(big)
                continue
            # pieces no longer than max_line, so no line inside one piece can be too long
            for at in range(0, len(big), max_line):
                block = big if len(big) <= max_line else big[at : at + max_line]
                if skipping:
                    i = block.find(b"\n")
                    if i < 0:
                        offset += len(block)
                        continue
                    offset += i + 1
                    block = block[i + 1 :]
                    skipping = False
                first = block.find(b"\n")
                if size - whole + (first if first >= 0 else len(block)) > max_line:
                    # the line in progress is too long: the whole lines before it, then it, cut
                    buf = b"".join(pending)
                    if whole:
                        yield buf[:whole], offset
                        offset += whole
                    line = buf[whole:]
                    yield line + block[: max_line - len(line)], offset
                    pending, size, whole = [], 0, 0
                    if first < 0:
                        offset += len(line) + len(block)
                        skipping = True
                        continue
                    offset += len(line) + first + 1
                    block = block[first + 1 :]
                nl = block.rfind(b"\n")
                if nl >= 0:
                    whole = size + nl + 1
                if block:
                    pending.append(block)
                    size += len(block)
                if size >= chunk_size and whole:
                    buf = b"".join(pending)
                    yield buf[:whole], offset
                    offset += whole
                    rest = buf[whole:]
                    pending, size, whole = ([rest] if rest else []), len(rest), 0
    except InputError:
        if size and (last := tail()):  # the readable part before the damage is scanned too
            yield last, offset
        raise
    if size and (last := tail()):
        yield last, offset


# --- byte ranges of one plain file (for --jobs) --------------------------------------------
def read_range(path: str, start: int, end: int, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple[bytes, int]]:
    """Chunks of the lines that *begin* in ``[start, end)`` of an uncompressed file. Reads
    block by block, also past ``end`` to finish the last line, so a huge line costs no more
    memory here than in `read_chunks`."""
    with open(path, "rb") as f:
        if start > 0:
            f.seek(start - 1)
            if f.read(1) != b"\n":  # mid-line: that line belongs to the previous range
                start = _next_line_start(f, start)

        def blocks() -> Iterator[bytes]:
            f.seek(start)
            pos, last = start, b"\n"
            while pos < end:
                block = f.read(min(READ_SIZE, end - pos))
                if not block:
                    return
                pos += len(block)
                last = block[-1:]
                yield block
            if last != b"\n":  # finish the line that begins in this range
                while block := f.read(READ_SIZE):
                    i = block.find(b"\n")
                    if i >= 0:
                        yield block[: i + 1]
                        return
                    yield block

        yield from read_chunks(blocks(), chunk_size, start)


def _next_line_start(f: BinaryIO, pos: int) -> int:
    """The offset just after the first newline at or after ``pos`` (end of file if none)."""
    f.seek(pos)
    while block := f.read(READ_SIZE):
        i = block.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(block)
    return pos


def split_ranges(size: int, parts: int, min_part: int = 32 << 20) -> list[tuple[int, int]]:
    """Byte ranges for splitting a file of ``size`` bytes into about ``parts`` pieces."""
    n = max(1, min(parts, size // min_part or 1))
    step = -(-size // n)
    return [(i, min(size, i + step)) for i in range(0, size, step)] or [(0, 0)]


# --- expanding paths ---------------------------------------------------------------------------
# rotated names: numbered (``.1``) or logrotate's dateext with any dateformat made of digit
# groups (``-20261201``, ``-2026120114``, ``-2026-12-01-1764590400``, ``-20261201-1764590400``)
_ROTATION = re.compile(
    r"^(?P<base>.+?)(?:\.(?P<num>\d+)|-(?P<date>(?:\d{8,}|\d{4}-\d{2}-\d{2})(?:[-_]\d+)*))?$", re.DOTALL
)
_LOGLIKE = re.compile(r"(?:access|\.log$|_log$)", re.IGNORECASE)


def strip_compression(name: str) -> str:
    """``access.log.2.gz`` -> ``access.log.2`` (by name: only for naming, never for reading)."""
    for suf in COMPRESSED_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


def rotation_base(name: str) -> str:
    """A file name without compression and rotation suffixes: ``shop-access.log.3.gz`` and
    ``shop-access.log-20261101`` -> ``shop-access.log``."""
    return _ROTATION.match(strip_compression(name)).group("base")


def rotation_key(path: str) -> tuple:
    """Sort key that puts a rotated set oldest first: ``x.log.10.gz`` … ``x.log.1``, ``x.log``."""
    d, name = os.path.split(path)
    m = _ROTATION.match(strip_compression(name))
    base, num, date = m.group("base"), m.group("num"), m.group("date")
    if num is not None:
        age = (0, -int(num), "")
    elif date is not None:
        age = (1, 0, date)
    else:
        age = (2, 0, "")
    return (d, base, age)


# System logs that sit beside access logs in /var/log (kern.log and ufw.log hold firewall LOG
# lines, read with ``report --firewall-log``); a directory walk must not take them for access logs.
_SYSTEM_LOG = re.compile(r"(?:kern|ufw|auth|daemon|user|dpkg|boot|cron|mail|fail2ban|alternatives)\.log", re.IGNORECASE)


def is_log_like(name: str) -> bool:
    base = rotation_base(name)
    if "error" in name.lower() or _SYSTEM_LOG.fullmatch(base):
        return False
    return bool(_LOGLIKE.search(base) or _LOGLIKE.search(name))


def _worth_opening(path: str) -> bool:
    """A file found in a directory walk that can be read to its end: a regular file, or a link
    that cannot be followed (then reported as unreadable). FIFOs, sockets and devices are
    skipped: opening a FIFO with no writer blocks forever and a device may never end. (A path
    named on the command line is always opened: ``dropscan scan <(zcat x.gz)`` is a pipe.)"""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def _archive_members(path: str) -> list[Source]:
    """The log-like members of an archive (`dropscan.archives`), rotated sets oldest first
    within each folder; [] when ``path`` is no archive (or an unreadable one: it is then read,
    and fails, as a file)."""
    try:
        with closing(open_blocks(Source(path))) as blocks:
            head = next(blocks, b"")[:512]
        which = archives.kind(path, head)
        if which is None:
            return []
        names = archives.members(path, which)
    except (InputError, OSError, EOFError, ValueError):
        return []
    found = [f"{path}{archives.SEP}/{n.lstrip('/')}" for n in names if is_log_like(n.rsplit("/", 1)[-1])]
    return [Source(m, walked=True) for m in sorted(found, key=rotation_key)]  # found, not named


def expand_paths(paths: list[str]) -> tuple[list[Source], list[str]]:
    """Sources for the given paths, and one error line for each path that yields nothing."""
    sources: list[Source] = []
    errors: list[str] = []
    for p in paths:
        if p == STDIN:
            sources.append(Source(STDIN))
            continue
        if os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    path
                    for f in files
                    if is_log_like(f) and not f.startswith(".") and _worth_opening(path := os.path.join(root, f))
                )
            if not found:
                errors.append(f"{p}: no access-log files in this directory")
            for f in sorted(found, key=rotation_key):
                sources.extend(_archive_members(f) or [Source(f, walked=True)])
            continue
        if os.path.exists(p):
            sources.extend(_archive_members(p) or [Source(p)])
            continue
        if glob.has_magic(p):
            matched = sorted((m for m in glob.glob(p, recursive=True) if os.path.isfile(m)), key=rotation_key)
            if not matched:
                errors.append(f"{p}: no file matches this pattern")
            for m in matched:
                sources.extend(_archive_members(m) or [Source(m)])
            continue
        errors.append(f"{p}: no such file or directory")
    seen: set[str] = set()
    unique = []
    for s in sources:
        if s.path not in seen:
            seen.add(s.path)
            unique.append(s)
    return unique, errors
