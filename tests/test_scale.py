"""Every core and every machine: the process pool and Dask give exactly the local findings,
in the same order, with the same line accounting; memory does not grow with the input."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma

import pandas as pd
import pytest
import zstandard

import dropscan
from conftest import SAMPLE_LOGS
from dropscan import engine
from dropscan.engine import Scan, ScanOptions


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    """~1.7 MB: the sample log repeated, with a junk line now and then (so ranges have rejects)."""
    lines = (SAMPLE_LOGS / "access.log").read_bytes().splitlines(keepends=True)
    p = tmp_path_factory.mktemp("big") / "access.log"
    with open(p, "wb") as fh:
        for i in range(500):
            fh.writelines(lines)
            if i % 97 == 0:
                fh.write(b"\x00junk line %d\n" % i)
    return p


def _records(scan):
    return [f.to_record() for f in scan]


@pytest.fixture()
def small_ranges(monkeypatch):
    """Let the engine split files of a few MB into 1 MiB byte ranges, and use a pool for them."""
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(engine, "MIN_PART", 1 << 18)


def test_pool_equals_one_process(big_log, small_ranges):
    one = Scan([str(big_log)], ScanOptions(jobs=1, keep_rejects=True), on_reject=lambda *_: None)
    want = _records(one)
    rejects: list[bytes] = []
    pool = Scan(
        [str(big_log)],
        ScanOptions(jobs=3, keep_rejects=True, chunk_size=1 << 20),
        on_reject=lambda _p, line: rejects.append(line),
    )
    assert len(list(pool.plan(lambda _src: 3))) == 3  # really split
    assert _records(pool) == want
    assert pool.summary()["files"] == one.summary()["files"]
    assert len(rejects) == one.summary()["files"][0]["rejected"] == 6


def test_byte_ranges_shift_line_numbers(big_log, small_ranges):
    s = Scan([str(big_log)], ScanOptions(jobs=2))
    units = [u for _src, u in s.plan(lambda _src: 5)]
    assert len(units) == 5 and units[0].start == 0 and units[-1].end == big_log.stat().st_size
    got = _records(s)
    assert got == _records(Scan([str(big_log)], ScanOptions(jobs=1)))
    data = big_log.read_bytes()
    lines = data.splitlines(keepends=True)
    for r in got:  # line numbers and offsets still point at the line, after the shift
        assert data[r["offset"] :].startswith(lines[r["line_no"] - 1])


COMPRESSORS = {
    "gzip": gzip.compress,
    "gzip, two members": lambda d: gzip.compress(d[: len(d) // 3]) + gzip.compress(d[len(d) // 3 :]),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda d: zstandard.ZstdCompressor().compress(d),
}


def _scan_both(path, small_ranges_jobs=3):
    """(one process, pool of chunks of 64 KiB) scans of ``path``, rejects kept."""
    scans, rejects = [], []
    for jobs, chunk in ((1, None), (small_ranges_jobs, 1 << 16)):
        got: list[bytes] = []
        opts = ScanOptions(jobs=jobs, keep_rejects=True, **({"chunk_size": chunk} if chunk else {}))
        scans.append(Scan([str(path)], opts, on_reject=lambda _p, line, got=got: got.append(line)))
        rejects.append(got)
    return scans, rejects


@pytest.mark.parametrize("kind", COMPRESSORS)
def test_a_compressed_file_is_shipped_to_the_pool_in_chunks(big_log, small_ranges, tmp_path, kind):
    """A compressed file cannot be split into byte ranges: the parent decompresses it and the
    workers scan its chunks, with findings, line numbers, offsets and summary as one process."""
    p = tmp_path / "access.log.z"
    p.write_bytes(COMPRESSORS[kind](big_log.read_bytes()))
    (one, pool), (rejects_one, rejects_pool) = _scan_both(p)
    progress: list[int] = []  # bytes read on disk, as a progress display shows them
    pool.on_progress = lambda s: progress.append(s.progress_info()["bytes"])
    units = [u for _src, u in pool.plan(lambda _src: 3, ship=True)]
    assert units[-1].file_end and units[-1].read_error is None
    # really shipped in pieces (zstd inflates this repetitive file in one step, one chunk)
    assert len(units) > 2 or kind == "zstd"
    want = _records(one)
    assert want and _records(pool) == want
    assert pool.summary() == one.summary()
    assert rejects_pool == rejects_one and len(rejects_one) == 6
    assert progress == sorted(progress) and progress[-1] == p.stat().st_size
    data = big_log.read_bytes()
    lines = data.splitlines(keepends=True)
    for r in want:  # decompressed offsets and shifted line numbers point at the line
        assert data[r["offset"] :].startswith(lines[r["line_no"] - 1])


def test_the_parent_reads_a_few_chunks_ahead_only(big_log, small_ranges, tmp_path, monkeypatch):
    """Memory stays bounded: the parent decompresses no more than a few units ahead of the
    results it has taken (2 per job), however long the file."""
    p = tmp_path / "access.log.gz"
    p.write_bytes(gzip.compress(big_log.read_bytes() * 3))
    shipped, ahead = [], []
    ship = Scan._ship

    def counting(self, src, spec):
        for unit in ship(self, src, spec):
            shipped.append(unit)
            yield unit

    monkeypatch.setattr(Scan, "_ship", counting)
    scan = Scan([str(p)], ScanOptions(jobs=2, chunk_size=1 << 15))
    scan.on_progress = lambda s: ahead.append(len(shipped) - len(ahead) - 1)  # told once a unit is taken
    assert len(_records(scan)) > 100
    assert len(shipped) > 20 and max(ahead) <= 4, ahead


def test_shipped_lines_travel_in_the_unit_when_no_file_can_be_written(big_log, small_ranges, tmp_path, monkeypatch):
    """The parent spools each shipped chunk to a temp file for its worker; when that fails
    (a full disk), the chunk goes through the pool's pipe instead: same findings."""
    p = tmp_path / "access.log.gz"
    p.write_bytes(gzip.compress(big_log.read_bytes()))
    want = _records(Scan([str(p)], ScanOptions(jobs=1)))

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.tempfile, "NamedTemporaryFile", full_disk)
    assert engine._spool(engine.Unit("x", None, 0, 1, data=b"a\n"), str(tmp_path)).data == b"a\n"
    assert _records(Scan([str(p)], ScanOptions(jobs=2, chunk_size=1 << 16))) == want


def test_a_truncated_gzip_in_the_pool_ends_as_in_one_process(big_log, small_ranges, tmp_path):
    """Every line before the damage is scanned, then the same one-line error fails the file."""
    full = gzip.compress(big_log.read_bytes())
    p = tmp_path / "cut.log.gz"
    p.write_bytes(full[: len(full) * 2 // 3])
    (one, pool), _ = _scan_both(p)
    want = _records(one)
    assert _records(pool) == want and len(want) > 100
    summary = one.summary()
    assert pool.summary() == summary
    assert summary["files"][0]["status"] == "failed" and "truncated gzip" in summary["files"][0]["error"]


def test_a_big_gz_takes_the_pool(tmp_path, monkeypatch):
    """The pool is chosen by the text to scan: a compressed file counts for more than its size."""
    p = tmp_path / "a.log.gz"
    p.write_bytes(gzip.compress((SAMPLE_LOGS / "access.log").read_bytes()))
    size = p.stat().st_size
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", size * engine.COMPRESSION_ESTIMATE)
    monkeypatch.setattr(Scan, "_scan_pool", lambda self: iter(["pool"]))
    assert list(Scan([str(p)], ScanOptions(jobs=2))) == ["pool"]
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", size * engine.COMPRESSION_ESTIMATE + 1)
    assert list(Scan([str(p)], ScanOptions(jobs=2))) != ["pool"]


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=40
        ) as c,
        distributed.Client(c) as client,
    ):
        yield c, client


def test_dask_dataframe_equals_scan_frame(cluster, big_log):
    from dropscan.dask import scan_dataframe

    paths = [str(SAMPLE_LOGS), str(big_log)]
    ddf = scan_dataframe(paths, partition_size=1 << 18)
    assert ddf.npartitions > 7
    got = ddf.compute().reset_index(drop=True)
    want = dropscan.scan_frame(paths)
    want.attrs = {}
    pd.testing.assert_frame_equal(got, want)
    assert list(ddf.dtypes) == list(want.dtypes)  # the meta is the fixed schema


def test_dask_bag_equals_local_records(cluster, big_log):
    from dropscan.dask import scan_bag

    got = scan_bag([str(big_log)], partition_size=1 << 18).compute()
    assert got == _records(Scan([str(big_log)], ScanOptions(jobs=1)))


def test_dask_engine_through_the_cli_equals_local(cluster, big_log, runner, tmp_path):
    c, _client = cluster
    from dropscan.cli import app

    local = runner.invoke(
        app, ["scan", str(SAMPLE_LOGS), str(big_log), "-j", "1", "-f", "jsonl", "--summary", str(tmp_path / "a.json")]
    )
    viadask = runner.invoke(
        app,
        [
            "scan",
            str(SAMPLE_LOGS),
            str(big_log),
            "--engine",
            "dask",
            "--scheduler",
            c.scheduler_address,
            "-f",
            "jsonl",
            "--summary",
            str(tmp_path / "b.json"),
        ],
    )
    assert viadask.exit_code == local.exit_code == 1
    assert viadask.stdout == local.stdout
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
