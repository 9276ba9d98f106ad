"""--format parquet for notebooks: the file read back with dropscan.read_findings has the very
frame scan_frame gives, every dtype and category intact, the empty file included."""

from __future__ import annotations

import pandas as pd
import pytest

import dropscan
from conftest import SAMPLE_LOGS, combined_line
from dropscan.cli import app
from dropscan.detect.findings import FRAME_COLUMNS
from dropscan.engine import default_signatures
from dropscan.errors import UsageError
from dropscan.outputs.frames import empty_frame

pytest.importorskip("pyarrow")

EXPECTED_DTYPES = {
    "timestamp": "datetime64[us, UTC]",
    "line_no": "Int64",
    "offset": "Int64",
    "status": "Int16",
    "bytes": "Int64",
    "dest_port": "Int32",
    "dest_count": "Int16",
    "dest_ip_literal": "boolean",
    "log_file": "str",
    "request": "str",
    "egress": "str",
}


def assert_same_schema(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(FRAME_COLUMNS)
    for c in FRAME_COLUMNS:
        g, w = got[c].dtype, want[c].dtype
        assert str(g) == str(w), c
        if isinstance(w, pd.CategoricalDtype):
            assert list(g.categories) == list(w.categories) and g.ordered == w.ordered, c
            assert str(g.categories.dtype) == str(w.categories.dtype), c
    for c, t in EXPECTED_DTYPES.items():
        assert str(got[c].dtype) == t, c
    assert list(got["severity"].cat.categories) == ["low", "medium", "high", "critical"]
    assert got["severity"].cat.ordered


def test_parquet_round_trip_keeps_every_dtype(tmp_path, runner):
    out = tmp_path / "found.parquet"
    r = runner.invoke(app, ["scan", str(SAMPLE_LOGS), "-o", str(out)])  # parquet from the extension
    assert r.exit_code == 1 and r.stdout == ""
    back = dropscan.read_findings(out)
    want = dropscan.scan_frame(SAMPLE_LOGS)
    assert_same_schema(back, want)
    pd.testing.assert_frame_equal(back, want.reset_index(drop=True), check_exact=True)
    unscanned = [f"unscanned.{r}" for r in ("field-cut", "decode-depth", "match-budget", "match-count")]
    assert back["rule_id"].cat.categories.tolist() == default_signatures().ids + unscanned
    assert back["status"].isna().sum() == 0 and back["dest_port"].isna().any()  # nullable ints keep NA
    assert back.loc[back["request"].str.contains("X0-locker"), "timestamp"].iloc[0] == pd.Timestamp(
        "2026-11-27T06:02:11Z"
    )


def test_an_empty_parquet_file_has_the_full_schema(tmp_path, runner):
    log = tmp_path / "access.log"
    log.write_bytes(combined_line("/index.html"))
    out = tmp_path / "none.parquet"
    r = runner.invoke(app, ["scan", str(log), "-f", "parquet", "-o", str(out)])
    assert r.exit_code == 0 and out.exists()
    back = dropscan.read_findings(out)
    assert len(back) == 0
    assert_same_schema(back, empty_frame(default_signatures()))
    day = dropscan.read_findings(tmp_path / "none.parquet")
    both = pd.concat([dropscan.scan_frame(SAMPLE_LOGS), day])
    assert isinstance(both["category"].dtype, pd.CategoricalDtype)  # days concatenate without degrading


def test_reading_a_foreign_parquet_file_is_one_line(tmp_path):
    p = tmp_path / "other.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(p)
    with pytest.raises(UsageError, match=r"other.parquet: not a dropscan findings file \(no column 'timestamp'\)"):
        dropscan.read_findings(p)
