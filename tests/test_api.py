"""The Python API and its fixed DataFrame schema."""

from __future__ import annotations

import pandas as pd

import dropscan
from conftest import SAMPLE_LOGS
from dropscan.detect.findings import FRAME_COLUMNS


def _check_schema(df):
    assert list(df.columns) == list(FRAME_COLUMNS)
    assert str(df["timestamp"].dtype) == "datetime64[us, UTC]"
    for c in ("rule_id", "category", "severity", "method"):
        assert isinstance(df[c].dtype, pd.CategoricalDtype), c
    assert str(df["status"].dtype) == "Int16" and str(df["bytes"].dtype) == "Int64"
    assert str(df["dest_port"].dtype) == "Int32" and str(df["dest_ip_literal"].dtype) == "boolean"


def test_scan_yields_findings_and_summary():
    s = dropscan.scan(SAMPLE_LOGS / "other_vhosts_access.log")
    found = list(s)
    assert [f.vhost for f in found] == ["legacy.example.com", "legacy.example.com", "api.example.com"]
    assert s.summary()["files"][0]["lines"] == 7


def test_scan_frame_schema_fixed_even_when_empty(tmp_path):
    df = dropscan.scan_frame(SAMPLE_LOGS)
    _check_schema(df)
    assert len(df) > 10
    (tmp_path / "access.log").write_text("")
    empty = dropscan.scan_frame(tmp_path / "access.log")
    _check_schema(empty)
    assert len(empty) == 0
    both = pd.concat([df, empty])
    assert both["rule_id"].dtype == df["rule_id"].dtype  # fixed categories survive concat


def test_destinations_frame_groups():
    df = dropscan.scan_frame(SAMPLE_LOGS)
    dest = dropscan.destinations_frame(df)
    assert {"finding", "host", "port", "scheme", "ip_literal"} <= set(dest.columns)
    top = dest.groupby(["host", "port"]).size()
    assert top.loc[("193.13.87.38", 80)] == 1
    assert str(dest["port"].dtype) == "Int32"
    assert dest.loc[dest["host"] == "evil.example", "ip_literal"].eq(False).all()
