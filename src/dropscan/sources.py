"""Where lines come from: paths, globs, directories and stdin, decompressed and in age order.

* Compression is detected by magic bytes, never by name: gzip (also multi-member), bzip2, xz
  and zstd. Decompression is incremental, so a truncated or corrupt file still yields every
  line before the damage, then raises `InputError` naming the file.
* A directory means every access-log-like file below it; a rotated set is read oldest first
  (``access.log.3.gz`` … ``access.log.1``, ``access.log``; dateext ``-20261101`` likewise).
* `read_chunks` turns decompressed blocks into chunks of whole lines with their byte offsets.
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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .errors import InputError

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


def detect_compression(head: bytes) -> str | None:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


@dataclass(frozen=True, slots=True)
class Source:
    """One input: a file path, or ``-`` for stdin."""

    path: str

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
    errors = (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError)
    if _gzip_zlib is not zlib:
        errors = (*errors, _gzip_zlib.error)
    if zstandard is not None:
        errors = (*errors, zstandard.ZstdError)
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
    except errors as e:
        raise InputError(f"{name}: corrupt {kind} data: {e}") from None
    if not d.eof:
        raise InputError(f"{name}: truncated {kind} data (unexpected end of file)")


def open_blocks(source: Source) -> Iterator[bytes]:
    """Decompressed bytes of ``source``, block by block."""
    name = "<stdin>" if source.is_stdin else source.path
    try:
        f = sys.stdin.buffer if source.is_stdin else open(source.path, "rb")
    except OSError as e:
        raise InputError(f"{name}: cannot open: {e.strerror or e}") from None
    try:
        try:
            first = f.read(READ_SIZE)
        except OSError as e:
            raise InputError(f"{name}: cannot read: {e.strerror or e}") from None
        kind = detect_compression(first)
        if kind is not None:
            yield from _decompress(f, kind, name, first)
            return
        if first:
            yield first
        while True:
            try:
                block = f.read(READ_SIZE)
            except OSError as e:
                raise InputError(f"{name}: cannot read: {e.strerror or e}") from None
            if not block:
                return
            yield block
    finally:
        if not source.is_stdin:
            f.close()


def read_chunks(
    blocks: Iterator[bytes], chunk_size: int = CHUNK_SIZE, start_offset: int = 0, max_line: int | None = None
) -> Iterator[tuple[bytes, int]]:
    """Chunks of whole lines and the byte offset where each starts. The last chunk may end
    without a newline (a final line without one is still a line).

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
    try:
        for big in blocks:
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
        if size:  # the readable part before the damage is scanned too
            yield b"".join(pending), offset
        raise
    if size:
        yield b"".join(pending), offset


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
_ROTATION = re.compile(r"^(?P<base>.+?)(?:\.(?P<num>\d+)|-(?P<date>\d{8}(?:\d{2})?))?$")
_LOGLIKE = re.compile(r"(?:access|\.log$|_log$)", re.IGNORECASE)


def _strip_compression(name: str) -> str:
    for suf in COMPRESSED_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


def rotation_key(path: str) -> tuple:
    """Sort key that puts a rotated set oldest first: ``x.log.10.gz`` … ``x.log.1``, ``x.log``."""
    d, name = os.path.split(path)
    m = _ROTATION.match(_strip_compression(name))
    base, num, date = m.group("base"), m.group("num"), m.group("date")
    if num is not None:
        age = (0, -int(num), "")
    elif date is not None:
        age = (1, 0, date)
    else:
        age = (2, 0, "")
    return (d, base, age)


def is_log_like(name: str) -> bool:
    base = _ROTATION.match(_strip_compression(name)).group("base")
    return "error" not in name.lower() and bool(_LOGLIKE.search(base) or _LOGLIKE.search(name))


def _worth_opening(path: str) -> bool:
    """A file found in a directory walk that can be read to its end: a regular file, or a link
    that cannot be followed (then reported as unreadable). FIFOs, sockets and devices are
    skipped: opening a FIFO with no writer blocks forever and a device may never end. (A path
    named on the command line is always opened: ``dropscan scan <(zcat x.gz)`` is a pipe.)"""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


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
            sources.extend(Source(f) for f in sorted(found, key=rotation_key))
            continue
        if os.path.exists(p):
            sources.append(Source(p))
            continue
        if glob.has_magic(p):
            matched = sorted((m for m in glob.glob(p, recursive=True) if os.path.isfile(m)), key=rotation_key)
            if not matched:
                errors.append(f"{p}: no file matches this pattern")
            sources.extend(Source(m) for m in matched)
            continue
        errors.append(f"{p}: no such file or directory")
    seen: set[str] = set()
    unique = []
    for s in sources:
        if s.path not in seen:
            seen.add(s.path)
            unique.append(s)
    return unique, errors
