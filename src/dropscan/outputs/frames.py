"""Findings as pandas DataFrames with one fixed schema (`dropscan.detect.findings.FRAME_COLUMNS`).

Every frame has the same columns and dtypes whatever the input, the empty one included:
``timestamp`` is ``datetime64[us, UTC]``, rule/category/severity/method are categoricals with
fixed categories (so frames from different files, processes or Dask partitions concatenate
without degrading to strings), status/bytes/port are nullable integers.

Destinations: ``dest_host``/``dest_port``/``dest_scheme``/``dest_ip_literal``/``dest_url`` hold
the first destination of a finding, ``dest_count`` how many there are, and ``egress`` all of them
as space-separated ``scheme://host:port`` endpoints. `destinations_frame` explodes them into one
row per (finding, destination) for ``groupby``.

`report_frames` gives the egress report (`dropscan.report.egress_report`) as two frames, hosts and
destinations, with the same discipline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ..detect.findings import FRAME_COLUMNS, HTTP_METHODS, Finding, flat_row
from ..detect.scanner import UNSCANNED_RULE_IDS
from ..detect.signatures import CATEGORIES, SEVERITIES, SignatureSet

if TYPE_CHECKING:
    from ..report.egress_report import Report

Rules = SignatureSet | Sequence[str] | None  # a signature set, or just its rule ids


def _rule_ids(sigs: Rules) -> list[str]:
    """The rule-id categories: the pack's ids, and the ``unscanned.<reason>`` ids."""
    if sigs is None:
        return []
    ids = sigs.ids if isinstance(sigs, SignatureSet) else list(sigs)
    return ids + [i for i in UNSCANNED_RULE_IDS if i not in ids]  # lines a bound stopped short


def dtypes(sigs: Rules) -> dict[str, object]:
    """Column -> dtype; the rule categories are the ids of the signature set."""
    cats = {
        "method": pd.CategoricalDtype(list(HTTP_METHODS)),
        "rule": pd.CategoricalDtype(_rule_ids(sigs)),
        "category": pd.CategoricalDtype(list(CATEGORIES)),
        "severity": pd.CategoricalDtype(list(SEVERITIES), ordered=True),
    }
    return {c: cats[t.split(":", 1)[1]] if t.startswith("category:") else t for c, t in FRAME_COLUMNS.items()}


def empty_frame(sigs: Rules = None) -> pd.DataFrame:
    """A frame with no rows and the full schema (also the Dask ``meta``)."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes(sigs).items()})


def to_frame(findings: Iterable[Finding], sigs: Rules = None) -> pd.DataFrame:
    rows = [flat_row(f) for f in findings]
    if not rows:
        return empty_frame(sigs)
    df = pd.DataFrame.from_records(rows, columns=list(FRAME_COLUMNS))
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[us, UTC]")
    if sigs is None:
        rule_cats = sorted({r for r in df["rule_id"] if r is not None})
        types = dtypes(None)
        types["rule_id"] = pd.CategoricalDtype(rule_cats)
    else:
        types = dtypes(sigs)
    return df.astype({c: t for c, t in types.items() if c != "timestamp"})


def write_parquet(df: pd.DataFrame, path: str) -> None:
    """The frame as Parquet; the rule ids go into the file's metadata as well, as an empty
    column's categories are not kept (see `conform`)."""
    df = df.copy(deep=False)
    df.attrs["rule_ids"] = [str(x) for x in df["rule_id"].cat.categories]
    try:
        df.to_parquet(path, index=False)
    except ImportError as e:
        from ..errors import UsageError

        raise UsageError("parquet output needs pyarrow: pip install 'dropscan[parquet]'") from e


def read_findings(path: str) -> pd.DataFrame:
    """Read findings written by ``dropscan scan --format parquet`` (or JSONL) back, dtypes intact."""
    if str(path).endswith((".jsonl", ".json", ".ndjson")):
        import json

        with open(path, encoding="utf-8") as fh:
            return to_frame(Finding.from_record(json.loads(line)) for line in fh if line.strip())
    try:
        df = pd.read_parquet(path)
    except ImportError as e:
        from ..errors import UsageError

        raise UsageError("reading parquet needs pyarrow: pip install 'dropscan[parquet]'") from e
    return conform(df, str(path))


def conform(df: pd.DataFrame, source: str = "frame") -> pd.DataFrame:
    """The fixed schema on a frame read back from Parquet. pyarrow restores the categories of
    a column with rows, but an empty file's categoricals come back with no or ``object``
    categories, which would not concatenate with other days' frames. The rule categories are
    the ids of the pack that wrote the file, kept in its metadata by `write_parquet`."""
    missing = [c for c in FRAME_COLUMNS if c not in df.columns]
    if missing:
        from ..errors import UsageError

        raise UsageError(f"{source}: not a dropscan findings file (no column {missing[0]!r})")
    types = dtypes(None)
    rule = df["rule_id"]
    ids = df.attrs.get("rule_ids")
    if ids is None:  # written by something else than write_parquet
        ids = rule.cat.categories if isinstance(rule.dtype, pd.CategoricalDtype) else sorted(set(rule.dropna()))
    types["rule_id"] = pd.CategoricalDtype(list(ids))
    out = df[list(FRAME_COLUMNS)].copy()
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).astype("datetime64[us, UTC]")
    return out.astype({c: t for c, t in types.items() if c != "timestamp"})


def destinations_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per (finding, destination): the finding's index as ``finding``, its time, vhost,
    client, rule and category, and ``host``, ``port`` (Int32), ``scheme``, ``ip_literal``."""
    cols = ["timestamp", "vhost", "client_ip", "rule_id", "category", "severity", "status"]
    base = findings[[*cols, "egress"]].copy()
    base["endpoint"] = base.pop("egress").str.split(" ")
    long = base.explode("endpoint")
    long = long[long["endpoint"].notna() & (long["endpoint"] != "")]
    parts = long["endpoint"].str.extract(r"^(?P<scheme>[^:]+)://\[?(?P<host>[^\]]*?)\]?(?::(?P<port>\d+))?$")
    out = long[cols].copy()
    out.insert(0, "finding", long.index)
    out["host"] = parts["host"].astype("str")
    out["port"] = pd.to_numeric(parts["port"]).astype("Int32")
    out["scheme"] = parts["scheme"].astype("str")
    out["ip_literal"] = out["host"].map(_is_ip).astype("boolean")
    return out.reset_index(drop=True)


def _is_ip(host: object) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(str(host))
        return True
    except ValueError:
        return False


# --- the egress report as frames -----------------------------------------------------------------
_UTC = "datetime64[us, UTC]"
REPORT_HOST_COLUMNS: dict[str, str] = {
    "host": "str",
    "needs_egress_blocking": "boolean",
    "findings": "Int64",
    "findings_with_destinations": "Int64",
    "answered_2xx_3xx": "Int64",
    "answered_4xx_5xx": "Int64",
    "first_seen": _UTC,
    "last_seen": _UTC,
    "clients": "Int64",
    "destinations": "Int64",
    "confirmed_destinations": "Int64",
}
REPORT_DEST_COLUMNS: dict[str, str] = {
    "host": "str",  # the receiving host
    "dest_host": "str",
    "port": "Int32",
    "scheme": "str",
    "ip_literal": "boolean",
    "wildcard": "boolean",
    "via_resolver": "boolean",
    "findings": "Int64",
    "answered_2xx_3xx": "Int64",
    "first_seen": _UTC,
    "last_seen": _UTC,
    "confirmed": "boolean",
    "first_confirmed": _UTC,
    "firewall_events": "Int64",
    "url": "str",
}


def _typed(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    for c, t in columns.items():
        df[c] = pd.to_datetime(df[c], utc=True).astype(t) if t == _UTC else df[c].astype(t)
    return df


def report_frames(report: Report) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(hosts, destinations) of an egress report, one row per host and per (host, destination),
    in the report's order (confirmed first), with fixed dtypes whatever the content."""
    hosts = [
        {
            "host": h.host,
            "needs_egress_blocking": h.needs_egress_blocking,
            "findings": h.findings,
            "findings_with_destinations": h.findings_with_destinations,
            "answered_2xx_3xx": h.answered_2xx_3xx,
            "answered_4xx_5xx": h.answered_4xx_5xx,
            "first_seen": h.first_seen,
            "last_seen": h.last_seen,
            "clients": len(h.clients),
            "destinations": len(h.dests),
            "confirmed_destinations": h.confirmed,
        }
        for h in report.hosts
    ]
    dests = [
        {
            "host": h.host,
            "dest_host": d.host,
            "port": d.port,
            "scheme": d.scheme,
            "ip_literal": d.ip_literal,
            "wildcard": d.wildcard,
            "via_resolver": d.via_resolver,
            "findings": d.findings,
            "answered_2xx_3xx": d.answered_2xx_3xx,
            "first_seen": d.first_seen,
            "last_seen": d.last_seen,
            "confirmed": d.confirmed,
            "first_confirmed": d.confirmed_at,
            "firewall_events": d.firewall_events,
            "url": d.url,
        }
        for h in report.hosts
        for d in h.destinations
    ]
    return _typed(hosts, REPORT_HOST_COLUMNS), _typed(dests, REPORT_DEST_COLUMNS)
