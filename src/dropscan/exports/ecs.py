"""``scan -f ecs``: one Elastic Common Schema document per finding, one JSON object a line,
ready for an Elasticsearch/OpenSearch ``_bulk`` or ingest pipeline.

ECS fields: ``@timestamp``, ``event`` (``kind: alert``, ``category: [web, intrusion_detection]``,
``type: [info]``, ``severity`` 21/47/73/99 for low…critical, ``dataset: dropscan.finding``),
``log.file.path``/``log.offset``, ``source.ip`` (``source.address`` when the client is not an
address), ``server.domain`` (the receiving vhost), ``url.original``/``path``/``query``,
``http.request.method``/``referrer``, ``http.response.status_code``/``body.bytes``,
``user_agent.original``, ``rule.id``/``name``/``category``/``ruleset``, ``threat.framework``
and ``threat.technique.id``, ``destination.*`` for the first destination. dropscan's own facts
go under ``dropscan.*``: ``egress`` (every destination with its wildcard/DNS-only facts),
``rule_ids``, ``field``, ``view``, ``decoded``, ``severity``. Exact JSON, like JSONL.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import IO

from ..detect.egress import Destination
from ..detect.findings import Finding
from ..detect.signatures import Signature, SignatureSet
from .attack import technique_url, techniques

_PROTOCOL = re.compile(r" HTTP/[0-9.]+$")
SEVERITY = {"low": 21, "medium": 47, "high": 73, "critical": 99}


def _ip(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(text)) if text else None
    except ValueError:
        return None


def destination(d: Destination) -> dict:
    out = {"address": f"*.{d.host}" if d.wildcard else d.host}
    if d.ip_literal:
        out["ip"] = d.host
    else:
        out["domain"] = d.host
    if d.port is not None:
        out["port"] = d.port
    return out


def egress_fact(d: Destination) -> dict:
    return {**d.as_dict(), "via_resolver": d.via_resolver}


def _target(f: Finding) -> str | None:
    """The request target: the request line without its method and protocol."""
    r = f.request
    if not r:
        return None
    if f.method and r.startswith(f.method + " "):
        r = r[len(f.method) + 1 :]
    return _PROTOCOL.sub("", r)


def document(f: Finding, by_id: dict[str, Signature]) -> dict:
    """The ECS document of one finding (``by_id``: the signatures by id)."""
    primary = by_id.get(f.rule_ids[0]) if f.rule_ids else None
    refs = [r for rid in f.rule_ids if rid in by_id for r in by_id[rid].references]
    tids = techniques(refs)
    target = _target(f)
    doc: dict = {
        "ecs": {"version": "8.11.0"},
        "event": {
            "kind": "alert",
            "category": ["web", "intrusion_detection"],
            "type": ["info"],
            "severity": SEVERITY.get(f.severity, 47),
            "dataset": "dropscan.finding",
            "module": "dropscan",
        },
        "log": {"file": {"path": f.log_file}, "offset": f.offset},
        "rule": {
            "id": f.rule_ids[0] if f.rule_ids else None,
            "name": primary.name if primary else (f.rule_ids[0] if f.rule_ids else None),
            "category": f.category,
            "ruleset": "dropscan",
        },
        "dropscan": {
            "egress": [egress_fact(d) for d in f.egress],
            "rule_ids": list(f.rule_ids),
            "field": f.field,
            "view": f.view,
            "decoded": f.decoded,
            "severity": f.severity,
            "line_no": f.line_no,
        },
    }
    if f.timestamp:  # a line that is no record has no time: the ingest pipeline sets one
        doc = {"@timestamp": f.timestamp.isoformat(), **doc}
    ip = _ip(f.client_ip)
    if f.client_ip:
        doc["source"] = {"ip": ip} if ip else {"address": f.client_ip}
    if f.vhost:
        doc["server"] = {"domain": f.vhost}
    if target is not None:
        path, _, query = target.partition("?")
        doc["url"] = {"original": target, "path": path} | ({"query": query} if query else {})
    http: dict = {}
    if f.method:
        http["request"] = {"method": f.method}
    if f.referer:
        http.setdefault("request", {})["referrer"] = f.referer
    if f.status is not None:
        http["response"] = {"status_code": f.status}
        if f.bytes is not None:
            http["response"]["body"] = {"bytes": f.bytes}
    if http:
        doc["http"] = http
    if f.user_agent:
        doc["user_agent"] = {"original": f.user_agent}
    if tids:
        doc["threat"] = {
            "framework": "MITRE ATT&CK",
            "technique": {"id": tids, "reference": [technique_url(t) for t in tids]},
        }
    if f.egress:
        doc["destination"] = destination(f.egress[0])
    return doc


class EcsWriter:
    """One ECS document a line (NDJSON)."""

    def __init__(self, out: IO[str], sigs: SignatureSet):
        self.out = out
        self.by_id = {s.id: s for s in sigs.signatures}

    def write(self, f: Finding) -> None:
        self.out.write(json.dumps(document(f, self.by_id), ensure_ascii=True) + "\n")

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.flush()
