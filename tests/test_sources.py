"""Sources: compression by magic bytes, rotated sets in age order, truncated input."""

from __future__ import annotations

import bz2
import gzip
import itertools
import lzma
import os

import pytest
import zstandard

from dropscan.errors import InputError
from dropscan.sources import Source, expand_paths, open_blocks, read_chunks, read_range, rotation_key

DATA = b"".join(b"line %d\n" % i for i in range(5000))


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, bz2.compress, lzma.compress, lambda d: zstandard.ZstdCompressor().compress(d), lambda d: d],
)
def test_compression_detected_by_magic_not_name(tmp_path, compress):
    p = tmp_path / "misleading.txt"  # no telling suffix
    p.write_bytes(compress(DATA))
    assert b"".join(open_blocks(Source(str(p)))) == DATA


def test_multi_member_gzip(tmp_path):
    p = tmp_path / "a.gz"
    p.write_bytes(gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]))
    assert b"".join(open_blocks(Source(str(p)))) == DATA


def test_truncated_gzip_yields_readable_part_then_error(tmp_path):
    p = tmp_path / "t.log.gz"
    full = gzip.compress(DATA * 20)
    p.write_bytes(full[: len(full) // 2])
    got = []
    with pytest.raises(InputError, match=r"t\.log\.gz: truncated gzip"):
        for block in open_blocks(Source(str(p))):
            got.append(block)
    data = b"".join(got)
    assert len(data) > len(DATA) and (DATA * 20).startswith(data)


def test_corrupt_gzip_names_the_file(tmp_path):
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
