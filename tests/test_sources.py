"""Sources: compression by magic bytes, rotated sets in age order, truncated input."""

from __future__ import annotations

import bz2
import gzip
import itertools
import lzma
import os
import zlib

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from dropscan.errors import InputError
from dropscan.sources import files as sources
from dropscan.sources.files import (
    FEED,
    READ_SIZE,
    Source,
    expand_paths,
    open_blocks,
    read_chunks,
    read_range,
    rotation_key,
)

DATA = b"".join(b"line %d\n" % i for i in range(5000))


@pytest.fixture(params=["isal", "zlib"])
def inflater(request, monkeypatch):
    """gzip is inflated by ISA-L when installed (a runtime dependency where it has wheels),
    else by zlib: both must read the same and fail the same way."""
    if request.param == "isal":
        pytest.importorskip("isal")
        assert sources._gzip_zlib is not zlib
    else:
        monkeypatch.setattr(sources, "_gzip_zlib", zlib)
    return request.param


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, bz2.compress, lzma.compress, lambda d: zstandard.ZstdCompressor().compress(d), lambda d: d],
)
def test_compression_detected_by_magic_not_name(tmp_path, compress):
    p = tmp_path / "misleading.txt"  # no telling suffix
    p.write_bytes(compress(DATA))
    assert b"".join(open_blocks(Source(str(p)))) == DATA


def test_multi_member_gzip(tmp_path, inflater):
    p = tmp_path / "a.gz"
    p.write_bytes(gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]) + bytes(512))  # zero padding after
    assert b"".join(open_blocks(Source(str(p)))) == DATA


def test_truncated_gzip_yields_readable_part_then_error(tmp_path, inflater):
    p = tmp_path / "t.log.gz"
    full = gzip.compress(DATA * 20)
    p.write_bytes(full[: len(full) // 2])
    got = []
    with pytest.raises(InputError, match=r"t\.log\.gz: truncated gzip"):
        for block in open_blocks(Source(str(p))):
            got.append(block)
    data = b"".join(got)
    assert len(data) > len(DATA) and (DATA * 20).startswith(data)


def test_corrupt_gzip_names_the_file(tmp_path, inflater):
    p = tmp_path / "c.gz"
    raw = bytearray(gzip.compress(DATA))
    raw[200:260] = b"\xff" * 60
    p.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"c\.gz: corrupt gzip"):
        b"".join(open_blocks(Source(str(p))))


def test_chunks_are_whole_lines_with_offsets():
    blocks = [DATA[i : i + 777] for i in range(0, len(DATA), 777)]
    chunks = list(read_chunks(iter(blocks), chunk_size=4000))
    assert b"".join(c for c, _ in chunks) == DATA
    for c, off in chunks:
        assert c.endswith(b"\n") and DATA[off : off + len(c)] == c


def test_final_line_without_newline_is_kept():
    chunks = list(read_chunks(iter([b"a\nb\nlast"]), chunk_size=2))
    assert b"".join(c for c, _ in chunks) == b"a\nb\nlast"


def test_byte_ranges_cover_every_line_once(tmp_path):
    p = tmp_path / "big.log"
    p.write_bytes(DATA)
    size = len(DATA)
    cuts = [0, 1, 7, 8, 4000, 17_777, size]
    got = b"".join(c for a, b in itertools.pairwise(cuts) for c, _ in read_range(str(p), a, b, chunk_size=1000))
    assert got == DATA


def test_rotated_set_oldest_first(tmp_path):
    names = [
        "access.log",
        "access.log.1",
        "access.log.2.gz",
        "access.log.10.gz",
        "access.log.3.gz",
        "other.log-20261101.gz",
        "other.log",
        "error.log",
        "README",
    ]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    sources, errors = expand_paths([str(tmp_path)])
    assert [os.path.basename(s.path) for s in sources] == [
        "access.log.10.gz",
        "access.log.3.gz",
        "access.log.2.gz",
        "access.log.1",
        "access.log",
        "other.log-20261101.gz",
        "other.log",
    ]
    assert errors == []
    assert sorted(["x.log", "x.log.2", "x.log.1"], key=rotation_key) == ["x.log.2", "x.log.1", "x.log"]


def test_directory_walk_skips_system_logs(tmp_path):
    """kern.log/ufw.log (firewall LOG lines, read by report --firewall-log) are not access logs."""
    for name in ("access.log", "kern.log", "kern.log.1", "ufw.log.2.gz", "auth.log", "shop-access.log", "web1.log"):
        (tmp_path / name).write_bytes(b"")
    sources, errors = expand_paths([str(tmp_path)])
    assert sorted(os.path.basename(s.path) for s in sources) == ["access.log", "shop-access.log", "web1.log"]
    assert errors == []
    # named explicitly, any file is read
    assert [s.path for s in expand_paths([str(tmp_path / "kern.log")])[0]] == [str(tmp_path / "kern.log")]


def test_missing_and_empty_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    sources, errors = expand_paths([str(tmp_path / "nope.log"), str(tmp_path / "empty"), str(tmp_path / "*.gz")])
    assert sources == []
    assert [e.split(": ", 1)[1] for e in errors] == [
        "no such file or directory",
        "no access-log files in this directory",
        "no file matches this pattern",
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"ab", b"\n", b"xyz\n", b"\r\n", b"", b"0123456789" * 3]), max_size=40),
    st.lists(st.integers(1, 25), min_size=1, max_size=8),
    st.integers(1, 40),
    st.integers(1, 30),
)
def test_chunks_cover_the_input_with_exact_offsets_and_cut_long_lines(parts, sizes, chunk_size, max_line):
    data = b"".join(parts)
    blocks, i = [], 0
    for n in itertools.cycle(sizes):
        if i >= len(data):
            break
        blocks.append(data[i : i + n])
        i += n
    chunks = list(read_chunks(iter(blocks), chunk_size=chunk_size, start_offset=5, max_line=max_line))
    lines = data.split(b"\n")
    want = [ln[:max_line] if len(ln) > max_line else ln for ln in lines]
    got_lines = b"\n".join(c for c, _ in chunks).split(b"\n")
    assert [x for x in got_lines if x] == [x for x in want if x]  # every line, each long one cut
    for c, off in chunks:
        assert c and data[off - 5 : off - 5 + len(c)] == c  # the offset points at the bytes
    # line accounting: a cut line is yielded alone and still counts as one line
    count = sum(c.count(b"\n") + (not c.endswith(b"\n")) for c, _ in chunks)
    assert count == data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))


def test_a_line_longer_than_max_line_is_cut_and_the_rest_skipped_in_ranges_too(tmp_path):
    long = b"x" * 5000
    data = b"a\n" + long + b"\nb\n" + long + b"tail"
    p = tmp_path / "big.log"
    p.write_bytes(data)
    inline = list(read_chunks(iter([data[i : i + 333] for i in range(0, len(data), 333)]), 100, max_line=1000))
    assert inline == [(b"a\n", 0), (b"x" * 1000, 2), (b"b\n", 5003), (b"x" * 1000, 5005)]
    cuts = [0, 1, 2, 1500, 5004, 7000, len(data)]
    ranged = [c for a, b in itertools.pairwise(cuts) for c in read_range(str(p), a, b, chunk_size=100)]
    assert b"".join(c for c, _ in ranged) == data  # ranges use the default MAX_LINE: nothing cut
    assert [off for _, off in ranged][:2] == [0, 2]


@pytest.mark.parametrize(
    ("compress", "most"),
    [
        (lambda d: gzip.compress(d, 9), READ_SIZE),
        (bz2.compress, READ_SIZE),
        (lzma.compress, READ_SIZE),
        (lambda d: zstandard.ZstdCompressor(level=19).compress(d), FEED * 32 * 1024),
    ],
)
def test_a_decompression_bomb_costs_time_not_memory(tmp_path, compress, most):
    # 48 MiB of NULs compresses to a few kB; it used to come out as one 48 MiB block
    size = 48 << 20
    p = tmp_path / "bomb.gz"
    p.write_bytes(compress(bytes(size)))
    total = 0
    for block in open_blocks(Source(str(p))):
        assert len(block) <= most
        total += len(block)
    assert total == size


def test_a_directory_walk_skips_fifos_and_reports_dangling_links(tmp_path):
    (tmp_path / "access.log").write_bytes(b"x\n")
    os.mkfifo(tmp_path / "access.log.1")  # opening it would block for ever: no writer
    os.symlink(tmp_path / "gone", tmp_path / "access.log.2")
    sources, errors = expand_paths([str(tmp_path)])
    assert [os.path.basename(s.path) for s in sources] == ["access.log.2", "access.log"]
    assert errors == []
    with pytest.raises(InputError, match=r"access\.log\.2: cannot open: No such file or directory"):
        list(open_blocks(sources[0]))
