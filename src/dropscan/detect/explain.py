"""``dropscan explain``: why a line did (or did not) produce a finding.

For one log line: which format parsed it (or that it was scanned as a raw line), every field
and each of its decoding views, which signatures' keywords were present, which patterns then
matched on which view, the destinations, whether the fast prefilter would pass the line, and
the resulting finding. The same functions as the scan itself, nothing re-implemented.
"""

from __future__ import annotations

from ..formats import detect_format
from ..formats.logformat import Format
from .egress import Destination
from .match import field_kind
from .scanner import Scanner, build_finding


def explain_line(line: bytes, scanner: Scanner, fmt: Format | None = None) -> dict:
    detected = fmt is None
    if fmt is None:
        fmt = detect_format([line])
    a = scanner.analyse(line, fmt)
    out: dict = {
        "line": line.decode("utf-8", "backslashreplace").rstrip("\r\n"),
        "format": fmt.name if fmt else None,
        "format_detected": detected,
        "record": None,
        "fields": [],
        "unscanned": list(a.bounds.cut),
    }
    if a.record is not None:
        r = a.record
        out["record"] = {
            "vhost": r.vhost,
            "client": r.client,
            "time": r.time.isoformat() if r.time else None,
            "method": r.method,
            "target": r.target,
            "protocol": r.protocol,
            "status": r.status,
            "bytes": r.bytes,
            "referer": r.referer,
            "user_agent": r.user_agent,
            "headers": r.headers,
        }
    for name, text, vs in a.fields:
        kind = field_kind(name)
        field = {"field": name, "text": text, "views": [], "hits": []}
        for v in vs:
            kws = scanner.matcher.present(v.text)
            sigs = scanner.matcher.candidates(v.text, kind)
            field["views"].append({"view": v.name, "text": v.text, "keywords": kws, "candidates": [s.id for s in sigs]})
        for h in a.hits:
            if h.field == name:
                field["hits"].append(
                    {
                        "rule": h.sig.id,
                        "name": h.sig.name,
                        "view": h.view.name,
                        "severity": h.sig.severity,
                        "destinations": [d.as_dict() for d in h.destinations],
                    }
                )
        out["fields"].append(field)
    pf = scanner.prefilter(fmt)
    if pf is not None:
        chunk = line if line.endswith(b"\n") else line + b"\n"
        out["prefilter"] = a.record is None or bool(pf.candidates(chunk))
    finding = build_finding(a, "-", 1, 0) if a.hits or a.bounds.cut else None
    out["finding"] = finding.to_record() if finding else None
    return out


def _dest(d: dict) -> str:
    """A destination record as ``scheme://host:port`` (the ``Destination.endpoint`` form)."""
    return Destination(**d).endpoint()


def explain_text(e: dict) -> str:
    """The human rendering (callers escape it for the terminal)."""
    lines = [f"line:    {e['line']}"]
    if e["record"] is None:
        lines.append(f"format:  {e['format'] or 'none'} - not a record; scanned as one raw field 'line'")
    else:
        how = "detected" if e["format_detected"] else "given"
        r = e["record"]
        lines.append(f"format:  {e['format']} ({how})")
        lines.append(
            f"record:  client={r['client']} vhost={r['vhost']} time={r['time']} method={r['method']} "
            f"status={r['status']} bytes={r['bytes']}"
        )
    for f in e["fields"]:
        lines.append(f"field {f['field']}:")
        for v in f["views"]:
            lines.append(f"  view {v['view']:<12} {v['text']}")
            if v["keywords"]:
                lines.append(
                    f"  {'':<17} keywords {', '.join(v['keywords'])} -> try {', '.join(v['candidates']) or '-'}"
                )
        for h in f["hits"]:
            dests = ", ".join(_dest(d) for d in h["destinations"]) or "no destination"
            lines.append(f"  MATCH {h['rule']} ({h['severity']}) on view {h['view']}: {dests}")
        tried = {c for v in f["views"] for c in v["candidates"]} - {h["rule"] for h in f["hits"]}
        for rule in sorted(tried):
            lines.append(f"  no match: {rule} (keyword present, no pattern matched)")
    if "prefilter" in e:
        lines.append(f"prefilter: {'pass' if e['prefilter'] else 'skip (benign fast path)'}")
    if e["unscanned"]:
        lines.append(f"unscanned: a bound stopped this line short ({', '.join(e['unscanned'])})")
    fnd = e["finding"]
    if fnd:
        dests = ", ".join(_dest(d) for d in fnd["egress"]) or "none"
        lines.append(f"finding: {fnd['severity']} {fnd['category']} rules={','.join(fnd['rule_ids'])} egress={dests}")
    else:
        lines.append("finding: none")
    return "\n".join(lines)
