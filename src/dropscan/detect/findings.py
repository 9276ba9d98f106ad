"""The Finding: one matching request, and its fixed record schema.

JSONL, CSV, the table, the DataFrame and Parquet are all built from `Finding.to_record()`, so
they agree on names and meanings. `FRAME_COLUMNS` is the DataFrame/Parquet schema (see
`dropscan.outputs.frames`); it is written here, without pandas, so the scan path never imports pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .egress import Destination
from .signatures import UNSCANNED

# The version of every machine-readable output's schema (JSONL findings, the --summary file, the
# JSON report, config show -f json); raised when a field changes meaning or goes away, not when
# one is added. Documented in docs/schema.md.
SCHEMA_VERSION = 1

HTTP_METHODS = (
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "OPTIONS",
    "PATCH",
    "TRACE",
    "CONNECT",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
    "PRI",
    "OTHER",
)


@dataclass(slots=True)
class Finding:
    log_file: str
    line_no: int  # 1-based, in the decompressed stream
    offset: int  # byte offset of the line in the decompressed stream
    timestamp: datetime | None
    vhost: str | None
    client_ip: str | None
    method: str | None
    request: str | None
    status: int | None
    bytes: int | None
    user_agent: str | None
    referer: str | None
    field: str  # where the primary signature matched: target, user_agent, referer, a header, line
    decoded: str  # the readable normalised text of that field
    rule_ids: list[str]
    category: str
    severity: str
    egress: list[Destination] = field(default_factory=list)
    view: str = "url"  # the decoding view the primary signature matched on
    peer_ip: str | None = None  # the connection as logged; client_ip is the client behind trusted proxies
    host: str | None = None  # the receiving host (`dropscan.report.hosts`): logged, --host, --host-from, or the path

    @property
    def unscanned(self) -> list[str]:
        """The bounds that stopped this line short (empty for a line scanned to the end)."""
        return [r.split(".", 1)[1] for r in self.rule_ids if r.startswith(UNSCANNED + ".")]

    @property
    def answered(self) -> bool:
        """A 2xx/3xx answer: the request reached something that ran."""
        return self.status is not None and 200 <= self.status < 400

    def to_record(self) -> dict:
        """The JSON-ready record (one JSONL line)."""
        return {
            "log_file": self.log_file,
            "line_no": self.line_no,
            "offset": self.offset,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "vhost": self.vhost,
            "host": self.host,
            "client_ip": self.client_ip,
            "peer_ip": self.peer_ip,
            "method": self.method,
            "request": self.request,
            "status": self.status,
            "bytes": self.bytes,
            "user_agent": self.user_agent,
            "referer": self.referer,
            "field": self.field,
            "view": self.view,
            "decoded": self.decoded,
            "rule_ids": list(self.rule_ids),
            "category": self.category,
            "severity": self.severity,
            "egress": [d.as_dict() for d in self.egress],
        }

    @classmethod
    def from_record(cls, r: dict) -> Finding:
        ts = r.get("timestamp")
        return cls(
            log_file=r["log_file"],
            line_no=r["line_no"],
            offset=r["offset"],
            timestamp=datetime.fromisoformat(ts) if ts else None,
            vhost=r.get("vhost"),
            client_ip=r.get("client_ip"),
            method=r.get("method"),
            request=r.get("request"),
            status=r.get("status"),
            bytes=r.get("bytes"),
            user_agent=r.get("user_agent"),
            referer=r.get("referer"),
            field=r["field"],
            decoded=r.get("decoded", ""),
            rule_ids=list(r["rule_ids"]),
            category=r["category"],
            severity=r["severity"],
            egress=[Destination(**d) for d in r.get("egress", [])],
            view=r.get("view", "url"),
            peer_ip=r.get("peer_ip"),
            host=r.get("host"),
        )


# --- the tabular schema (DataFrame, Parquet, CSV) -------------------------------------------
# name -> dtype name; "category:<kind>" columns get a fixed CategoricalDtype in frames.py.
FRAME_COLUMNS: dict[str, str] = {
    "timestamp": "datetime64[us, UTC]",
    "log_file": "str",
    "line_no": "Int64",
    "offset": "Int64",
    "vhost": "str",
    "host": "str",
    "client_ip": "str",
    "peer_ip": "str",
    "method": "category:method",
    "request": "str",
    "status": "Int16",
    "bytes": "Int64",
    "user_agent": "str",
    "referer": "str",
    "field": "str",
    "view": "str",
    "decoded": "str",
    "rule_id": "category:rule",
    "rule_ids": "str",
    "category": "category:category",
    "severity": "category:severity",
    "dest_host": "str",
    "dest_port": "Int32",
    "dest_scheme": "str",
    "dest_ip_literal": "boolean",
    "dest_url": "str",
    "dest_count": "Int16",
    "egress": "str",
}


def flat_row(f: Finding) -> dict:
    """One row of the tabular schema: the first destination spread into ``dest_*`` columns, all
    destinations as space-separated ``scheme://host:port`` endpoints in ``egress``."""
    d = f.egress[0] if f.egress else None
    method = f.method.upper() if f.method else None
    return {
        "timestamp": f.timestamp,
        "log_file": f.log_file,
        "line_no": f.line_no,
        "offset": f.offset,
        "vhost": f.vhost,
        "host": f.host,
        "client_ip": f.client_ip,
        "peer_ip": f.peer_ip,
        "method": method if method in HTTP_METHODS or method is None else "OTHER",
        "request": f.request,
        "status": f.status,
        "bytes": f.bytes,
        "user_agent": f.user_agent,
        "referer": f.referer,
        "field": f.field,
        "view": f.view,
        "decoded": f.decoded,
        "rule_id": f.rule_ids[0] if f.rule_ids else None,
        "rule_ids": ",".join(f.rule_ids),
        "category": f.category,
        "severity": f.severity,
        "dest_host": d.host if d else None,
        "dest_port": d.port if d else None,
        "dest_scheme": d.scheme if d else None,
        "dest_ip_literal": d.ip_literal if d else None,
        "dest_url": d.url if d else None,
        "dest_count": len(f.egress),
        "egress": " ".join(x.endpoint() for x in f.egress),
    }
