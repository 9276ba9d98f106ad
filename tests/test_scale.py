"""Every core and every machine: the process pool and Dask give exactly the local findings,
in the same order, with the same line accounting; memory does not grow with the input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

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
