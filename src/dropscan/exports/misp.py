"""Indicators as a MISP event, built offline with ``pymisp.MISPEvent`` (the ``intel`` extra).

Attributes per destination: ``ip-dst`` and ``ip-dst|port`` for an IP literal (no port for a
ping), ``domain`` for a name (a wildcard keeps its suffix, says ``*.suffix`` in the comment and
carries the ``dropscan:wildcard`` tag; a DNS callback carries ``dropscan:via-resolver``), ``url``
when one was written; each with first/last seen, ``to_ids`` (false for private/reserved
addresses, kept as context only), ATT&CK tags (``mitre-attack:attack-pattern="T1105"``) and the
signatures as ``dropscan:rule="…"`` tags. The event is tagged with its TLP (``--tlp``, amber by
default). One ``http-request`` object per finding holds the request for context.

UUIDs are UUIDv5 of their content and times come from the log, so output is deterministic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ..detect.findings import Finding
from ..detect.signatures import SignatureSet
from ..extras import require
from .attack import techniques
from .indicators import Indicator, IndicatorSet

NAMESPACE = uuid.UUID("0e7a2f0c-3d1b-5c4e-8f6a-9b2d4c6e8a10")


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(map(str, parts))))


def _attributes(i: Indicator) -> list[tuple[str, str]]:
    out = []
    if i.ip_literal:
        out.append(("ip-dst", i.host))
        if i.port is not None and i.scheme != "icmp":
            out.append(("ip-dst|port", f"{i.host}|{i.port}"))
    else:
        out.append(("domain", i.host))
    if i.url:
        out.append(("url", i.url))
    return out


def event(indicators: IndicatorSet, findings: Iterable[Finding], sigs: SignatureSet, tlp: str = "amber"):
    """The `pymisp.MISPEvent` (`to_json` gives MISP's ``{"Event": …}`` import form)."""
    pymisp = require("pymisp", "intel", "MISP output")
    by_sig = {s.id: s for s in sigs.signatures}
    ev = pymisp.MISPEvent()
    ev.uuid = _uuid("event", *(i.key for i in indicators.indicators))
    ev.info = (
        f"dropscan: {len(indicators.actionable)} egress destination(s) named by {indicators.with_destinations} "
        f"injected request(s)"
    )
    if indicators.first_seen:
        ev.date = indicators.first_seen.date()
    ev.distribution = 0
    ev.threat_level_id = 2
    ev.analysis = 2
    ev.add_tag(f"tlp:{'clear' if tlp == 'white' else tlp}")
    for i in indicators.indicators:
        comment = "; ".join([f"{i.scheme}://{i.shown}" + (f":{i.port}" if i.port is not None else ""), *i.facts()])
        tags = [f'dropscan:rule="{r}"' for r in i.rule_ids]
        for r in i.rule_ids:
            sig = by_sig.get(r)
            tags += [f'mitre-attack:attack-pattern="{t}"' for t in techniques(sig.references)] if sig else []
        if i.wildcard:
            tags.append("dropscan:wildcard")
        if i.via_resolver:
            tags.append("dropscan:via-resolver")
        for kind, value in _attributes(i):
            kw = {"first_seen": i.first_seen, "last_seen": i.last_seen} if i.first_seen else {}
            ev.add_attribute(
                kind,
                value,
                uuid=_uuid("attribute", kind, value, *i.key),
                to_ids=not i.internal,
                comment=comment,
                category="Network activity",
                Tag=[{"name": t} for t in dict.fromkeys(tags)],
                **kw,
            )
    for f in findings:
        if not f.egress or f.field == "line":  # only requests that named a destination
            continue
        obj = pymisp.MISPObject("http-request", standalone=False)
        obj.uuid = _uuid("object", f.log_file, f.line_no)
        obj.comment = f"{f.log_file}:{f.line_no} {', '.join(f.rule_ids)}"
        if f.timestamp:
            obj.first_seen = obj.last_seen = f.timestamp
        for rel, value in (
            ("ip-src", f.client_ip),
            ("host", f.vhost),
            ("method", f.method),
            ("uri", f.request),
            ("user-agent", f.user_agent),
            ("referer", f.referer),
            ("text", f.decoded),
        ):
            if value:
                obj.add_attribute(
                    rel,
                    value=value,
                    uuid=_uuid("object-attribute", f.log_file, f.line_no, rel),
                    to_ids=False,
                    disable_correlation=rel != "ip-src",
                )
        ev.add_object(obj)
    return ev


def to_json(ev) -> str:
    """MISP's import form: ``{"Event": {...}}``."""
    import json

    return json.dumps({"Event": json.loads(ev.to_json())}, indent=2) + "\n"
