"""Indicators as plain text: ``txt`` (one destination per line, for blocklists, nft sets and
ipset) and ``csv`` (one row per indicator, every fact in a column, spreadsheet-safe)."""

from __future__ import annotations

import csv
import io

from ..outputs.safety import csv_cell
from .indicators import IndicatorSet

CSV_COLUMNS = (
    "kind",
    "value",
    "host",
    "port",
    "scheme",
    "ip_literal",
    "wildcard",
    "via_resolver",
    "internal",
    "findings",
    "first_seen",
    "last_seen",
    "receiving_hosts",
    "rule_ids",
    "url",
)


def txt(indicators: IndicatorSet, only: str | None = None) -> str:
    """One host per line (IPs first, then names, each sorted), without private/reserved ones;
    a wildcard is written ``*.suffix``. ``only``: ``ip`` or ``domain``."""
    values = {(i.kind, i.shown) for i in indicators.actionable if only is None or i.kind == only}
    ordered = sorted(values, key=lambda kv: (kv[0] != "ip", kv[1]))
    return "".join(v + "\n" for _k, v in ordered)


def to_csv(indicators: IndicatorSet, only: str | None = None) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i in indicators.indicators:
        if only is not None and i.kind != only:
            continue
        row = (
            i.kind,
            i.shown,
            i.host,
            i.port,
            i.scheme,
            i.ip_literal,
            i.wildcard,
            i.via_resolver,
            i.internal,
            i.findings,
            i.first_seen.isoformat() if i.first_seen else None,
            i.last_seen.isoformat() if i.last_seen else None,
            " ".join(sorted(i.sightings)),
            " ".join(i.rule_ids),
            i.url,
        )
        w.writerow([csv_cell(v) if isinstance(v, str) else ("" if v is None else v) for v in row])
    return out.getvalue()
