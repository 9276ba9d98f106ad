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
import textwrap
from datetime import datetime, tzinfo
from typing import IO

from rich.cells import cell_len, chop_cells, set_cell_size

from ..detect.findings import FRAME_COLUMNS, SCHEMA_VERSION, Finding, flat_row
from ..report.hosts import HostRule
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


def view_label(f: Finding) -> str:
    """What the text under a table row is: the field, and which decoding made it readable
    (a base64 blob's text is not the request target itself)."""
    if f.view.startswith("base64"):
        return f"{f.field}, base64-decoded"
    if f.view.startswith("jndi"):
        return f"{f.field}, lookups resolved"
    return f.field


def _offset_name(t: datetime) -> str:
    """``+01:00``, ``-04:30``, or ``UTC`` for a zero offset."""
    off = t.utcoffset()
    if not off:
        return "UTC"
    minutes = int(off.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` terminal cells (wide characters count two), cut with …."""
    return text if cell_len(text) <= width else set_cell_size(text, max(0, width - 1)).rstrip() + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


class TableWriter:
    """A finding as a row of facts that fits the terminal (80 columns when there is none), then
    indented below it the rule and destination, and the decoded text wrapped over up to
    `TEXT_LINES` lines. Times are shown in one zone, named in the header: ``tz`` (``--tz``), else
    the first finding's own offset. Hosts are named as by ``dropscan report`` (`HostRule`).
    Control characters are escaped; nothing is interpreted as markup."""

    MIN_WIDTH = 60
    TEXT_LINES = 3
    INDENT = "    "

    def __init__(
        self,
        out: IO[str],
        *,
        defanged: bool = False,
        color: bool = False,
        width: int | None = None,
        tz: tzinfo | None = None,
        host_rule: HostRule | None = None,
    ):
        self.out = out
        self.defanged = defanged
        self.color = color
        self.width = max(self.MIN_WIDTH, width or shutil.get_terminal_size((80, 24)).columns)
        self.tz = tz
        self.tz_name = str(tz) if tz is not None else None
        self.host_rule = host_rule or HostRule()
        self.rows = 0
        # TIME, SEVERITY, ST, CLIENT fixed; HOST takes the rest
        self.widths = (19, 8, 3, 15, self.width - 19 - 8 - 3 - 15 - 8)

    def _row(self, values: list[str], severity: str | None = None) -> str:
        cells = [_pad(_fit(v, w), w) for w, v in zip(self.widths, values, strict=True)]
        if self.color and severity in _SEV_COLOR:
            cells[1] = _SEV_COLOR[severity] + cells[1] + _RESET
        return "  ".join(cells).rstrip()

    def _time(self, f: Finding) -> str:
        if f.timestamp is None:
            return "-"
        if self.tz is None:  # the first timed finding's offset names the column
            self.tz = f.timestamp.tzinfo
            self.tz_name = _offset_name(f.timestamp)
        return f.timestamp.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")

    def write(self, f: Finding) -> None:
        ts = self._time(f)
        if self.rows == 0:
            zone = f"TIME ({self.tz_name})" if self.tz_name else "TIME"
            if len(zone) > self.widths[0]:  # a long zone name gets a line of its own
                self.out.write(f"times in {self.tz_name}\n")
                zone = "TIME"
            self.out.write(self._row([zone, "SEVERITY", "ST", "CLIENT", "HOST"]) + "\n")
        self.rows += 1
        row = [ts, f.severity, str(f.status) if f.status is not None else "-", term(f.client_ip or "-")]
        self.out.write(self._row([*row, term(self.host_rule(f))], f.severity) + "\n")
        rule = f.rule_ids[0] + (f" (+{len(f.rule_ids) - 1})" if len(f.rule_ids) > 1 else "")
        dest = term(endpoint_text(f, self.defanged)) if f.egress else "no destination named"
        self.out.write(_fit(f"{self.INDENT}{rule} → {dest}", self.width) + "\n")
        label = f"{self.INDENT}{term(view_label(f))}: "
        text = term(defang(f.decoded) if self.defanged else f.decoded)
        if cell_len(label) > self.width // 2:  # a long field name: the text goes under it
            self.out.write(_fit(label.rstrip(), self.width) + "\n")
            label = self.INDENT * 2
        pad = " " * cell_len(label)
        for i, line in enumerate(self._wrap(text, self.width - cell_len(label))):
            self.out.write((label if i == 0 else pad) + line + "\n")

    def note(self, text: str | None) -> None:
        """A closing line under the table (what filters and suppressions held back)."""
        if text:
            self.out.write(text + "\n")

    def _wrap(self, text: str, room: int) -> list[str]:
        """``text`` in lines of at most ``room`` cells, at word boundaries where there are
        some; at most `TEXT_LINES` lines, the last ending in … when there was more."""
        lines = [
            piece
            for line in textwrap.wrap(text, room, break_on_hyphens=False) or [""]
            for piece in (chop_cells(line, room) if cell_len(line) > room else [line])
        ]
        if len(lines) > self.TEXT_LINES:
            lines = lines[: self.TEXT_LINES]
            lines[-1] = _fit(lines[-1] + " …", room)
        return lines

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.flush()


class JsonlWriter:
    def __init__(self, out: IO[str]):
        self.out = out

    def write(self, f: Finding) -> None:
        self.out.write(json.dumps({"schema_version": SCHEMA_VERSION, **f.to_record()}, separators=(",", ":")) + "\n")

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


def held_back_text(filtered: dict | None) -> str | None:
    """``not reported: 3 suppressed (dropper.curl 3), 2 below --min-severity``, or None."""
    if not filtered:
        return None
    parts = []
    if filtered["suppressed"]:
        rules = ", ".join(f"{r} {n}" for r, n in filtered["suppressed_by_rule"].items())
        parts.append(f"{filtered['suppressed']:,} suppressed ({rules})")
    if filtered["below_min_severity"]:
        parts.append(f"{filtered['below_min_severity']:,} below --min-severity")
    if filtered["other_category"]:
        parts.append(f"{filtered['other_category']:,} outside --category")
    return (
        ("not reported: " + "; ".join(parts))
        if parts
        else "not reported: none (filters and suppressions matched nothing)"
    )


def covered_text(t: dict) -> str:
    """What a scan read, from its summary's ``totals``: inputs that could not be opened at all,
    files by status, lines, records, rejects, the time span and the formats."""
    unread = t.get("unread_inputs", 0)
    span = f"{t['first']} to {t['last']}" if t.get("first") else "no record times"
    return (
        (f"{unread} input(s) unreadable, " if unread else "")
        + f"{t['files']} file(s) ({t['findings_files']} with findings, {t['clean_files']} clean, "
        f"{t['failed_files']} failed, {t['skipped_files']} skipped), {t['lines']:,} lines ({t['records']:,} records, "
        f"{t['rejected']:,} rejected), {span}; formats: {', '.join(term(x) for x in t['formats']) or 'none'}"
    )


def summary_text(summary: dict) -> str:
    """The run summary for a terminal (stderr): INCOMPLETE first when anything failed, then what
    was covered, then one line per file with its status (clean, findings, FAILED, skipped)."""
    t = summary["totals"]
    lines = []
    if summary["errors"]:
        lines.append(f"dropscan: INCOMPLETE: {len(summary['errors'])} input(s) failed; the results cover only the rest")
    lines.append(
        f"dropscan: {covered_text(t)}, {t['findings']:,} finding(s)"
        + (f", {t['unscanned']:,} line(s) unscanned past a bound" if t["unscanned"] else "")
    )
    held = held_back_text(summary.get("filtered"))
    if held:
        lines.append(f"  {held}")
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
