"""Writers for findings: table (terminal), JSONL, CSV and Parquet, plus the run summary.

JSONL is exact (json escapes every control character). The table and CSV are for humans and
spreadsheets: control characters are escaped, CSV cells cannot start a formula, and
``--defang`` makes URLs and hosts unclickable. No writer interprets markup from log text.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from typing import IO

from .findings import FRAME_COLUMNS, Finding, flat_row
from .safety import csv_cell, defang, defang_host, term

_SEV_COLOR = {"critical": "\x1b[1;31m", "high": "\x1b[31m", "medium": "\x1b[33m", "low": "\x1b[2m"}
_RESET = "\x1b[0m"


def endpoint_text(f: Finding, defanged: bool) -> str:
    if not f.egress:
        return "-"
    d = f.egress[0]
    host = ("*." if d.wildcard else "") + defang_host(d.host) if defanged else d.shown_host
    scheme = defang(d.scheme + "://x")[:-4] if defanged else d.scheme
    text = f"{scheme}://{host}" + (f":{d.port}" if d.port is not None else "")
    return text + (f" (+{len(f.egress) - 1})" if len(f.egress) > 1 else "")


class TableWriter:
    """Two lines per finding, sized to the terminal: the facts, then the decoded request
    indented below. Control characters are escaped; nothing is interpreted as markup."""

    COLUMNS = ((19, "TIME"), (8, "SEVERITY"), (24, "HOST"), (15, "CLIENT"), (3, "ST"), (26, "RULE"), (0, "DESTINATION"))

    def __init__(self, out: IO[str], *, defanged: bool = False, color: bool = False, width: int | None = None):
        self.out = out
        self.defanged = defanged
        self.color = color
        self.width = max(60, width or shutil.get_terminal_size((160, 24)).columns)
        self.rows = 0

    def _row(self, values: list[str], severity: str | None = None) -> str:
        cells = []
        for (w, _name), v in zip(self.COLUMNS, values, strict=True):
            cells.append(v if w == 0 else (v[: w - 1] + "…" if len(v) > w else v.ljust(w)))
        if self.color and severity in _SEV_COLOR:
            cells[1] = _SEV_COLOR[severity] + cells[1] + _RESET
        return "  ".join(cells).rstrip()

    def write(self, f: Finding) -> None:
        if self.rows == 0:
            self.out.write(self._row([name for _w, name in self.COLUMNS]) + "\n")
        self.rows += 1
        ts = f.timestamp.strftime("%Y-%m-%d %H:%M:%S") if f.timestamp else "-"
        host = f.vhost or os.path.basename(f.log_file)
        rule = f.rule_ids[0] + (f" +{len(f.rule_ids) - 1}" if len(f.rule_ids) > 1 else "")
        self.out.write(
            self._row(
                [
                    ts,
                    f.severity,
                    term(host),
                    term(f.client_ip or "-"),
                    str(f.status) if f.status is not None else "-",
                    rule,
                    term(endpoint_text(f, self.defanged)),
                ],
                f.severity,
            )
            + "\n"
        )
        text = term(defang(f.decoded) if self.defanged else f.decoded)
        room = self.width - 6
        if len(text) > room:
            text = text[: room - 1] + "…"
        self.out.write(f"    {f.field}: {text}\n" if len(f.field) + len(text) + 6 <= self.width else f"    {text}\n")

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.flush()


class JsonlWriter:
    def __init__(self, out: IO[str]):
        self.out = out

    def write(self, f: Finding) -> None:
        self.out.write(json.dumps(f.to_record(), separators=(",", ":")) + "\n")

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.flush()


class CsvWriter:
    """The flat tabular schema (the same columns as the DataFrame), formula-guarded."""

    def __init__(self, out: IO[str], *, defanged: bool = False):
        self.defanged = defanged
        self.w = csv.writer(out, lineterminator="\n")
        self.w.writerow(list(FRAME_COLUMNS))
        self.out = out

    def write(self, f: Finding) -> None:
        row = flat_row(f)
        row["timestamp"] = f.timestamp.isoformat() if f.timestamp else None
        if self.defanged:
            for k in ("request", "decoded", "referer", "user_agent", "dest_url", "egress"):
                row[k] = defang(row[k])
            if row["dest_host"]:
                row["dest_host"] = defang_host(row["dest_host"])
        self.w.writerow([csv_cell(row[c]) for c in FRAME_COLUMNS])

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.flush()


class ParquetWriter:
    """Buffers findings and writes the fixed DataFrame schema at close (needs pyarrow) to
    ``out``, a path or a binary file object."""

    def __init__(self, out, sigs):
        self.path = out
        self.sigs = sigs
        self.findings: list[Finding] = []

    def write(self, f: Finding) -> None:
        self.findings.append(f)

    def flush(self) -> None:
        """Nothing to do: a Parquet file is written whole, at close."""

    def close(self) -> None:
        from .frames import to_frame, write_parquet

        write_parquet(to_frame(self.findings, self.sigs), self.path)


def format_for(path: str | None, is_tty: bool) -> str:
    """The default output format: from the file extension, else table on a terminal, else JSONL."""
    if path and path != "-":
        ext = os.path.splitext(path)[1].lower()
        return {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".txt": "table"}.get(ext, "jsonl")
    return "table" if is_tty else "jsonl"


def summary_text(summary: dict) -> str:
    """The run summary for a terminal (stderr): INCOMPLETE first when anything failed, then what
    was covered, then one line per file with its status (clean, findings, FAILED, skipped)."""
    t = summary["totals"]
    lines = []
    if summary["errors"]:
        lines.append(f"dropscan: INCOMPLETE: {len(summary['errors'])} input(s) failed; the results cover only the rest")
    span = f", {t['first']} to {t['last']}" if t["first"] else ""
    lines.append(
        f"dropscan: {t['files']} file(s) ({t['findings_files']} with findings, {t['clean_files']} clean, "
        f"{t['failed_files']} failed, {t['skipped_files']} skipped), {t['lines']:,} lines ({t['records']:,} records, "
        f"{t['rejected']:,} rejected){span}, {t['findings']:,} finding(s)"
        + (f", {t['unscanned']:,} line(s) unscanned past a bound" if t["unscanned"] else "")
        + (f"; formats: {', '.join(term(x) for x in t['formats'])}" if t["formats"] else "")
    )
    for f in summary["files"]:
        status = f["status"].upper() if f["status"] == "failed" else f["status"]
        host = f.get("host") or {}
        named = f", host {term(host['name'])} ({host['source']})" if host.get("name") else ""
        if host.get("logged_on_findings"):
            named = f", host logged on the line ({host['logged_on_findings']:,} finding(s))" + named.replace(
                ", host", ", else"
            )
        lines.append(
            f"  {status}: {term(f['path'])}: {term(f['format'] or '-')}, {f['lines']:,} lines, "
            f"{f['records']:,} records, {f['rejected']:,} rejected, {f['findings']:,} finding(s){named}"
            + (f" ({term(f['skipped'])})" if f["skipped"] else "")
        )
    sigma = summary.get("sigma")
    if sigma:
        lines.append(
            f"  sigma: {sigma['rules']} rule(s) run from {sigma['files']} file(s), "
            f"{len(sigma['not_applicable'])} not applicable; prefilter {sigma['prefilter']}"
        )
    for e in summary.get("errors", []):
        lines.append(f"  error: {term(e)}")
    return "\n".join(lines)
