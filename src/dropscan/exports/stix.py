"""Indicators as a STIX 2.1 bundle, built with the OASIS ``stix2`` library (the ``intel`` extra).

Per destination an ``indicator`` (a STIX pattern over ``network-traffic`` with its ``dst_ref``
``ipv4-addr``/``ipv6-addr``/``domain-name`` and ``dst_port``, or the bare address for a ping,
``LIKE '%.suffix'`` for a wildcard, ``OR [url:value = …]`` when a URL was written), a
``note`` holding the request that named it (as logged and decoded), and per receiving host a
``sighting`` with first/last seen and count (``where_sighted_refs``: an ``identity`` for the
host). Per signature an ``attack-pattern`` with its ATT&CK and CVE references, linked by
``indicates`` relationships. Wildcard, DNS-only and ping facts are in each indicator's
description and in ``x_dropscan_*`` properties. Private/reserved destinations are left out.

Ids are UUIDv5 of their content and times come from the log, so the same findings give the
same bundle, byte for byte.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ..detect.signatures import SignatureSet
from ..extras import require
from .attack import cves, techniques
from .indicators import Indicator, IndicatorSet

NAMESPACE = uuid.UUID("6f1c7c62-4a3e-5b8e-9d4e-2f0f6a1d7c15")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TLP = {"clear": "TLP_WHITE", "white": "TLP_WHITE", "green": "TLP_GREEN", "amber": "TLP_AMBER", "red": "TLP_RED"}


def _id(kind: str, *parts: object) -> str:
    """A deterministic id in UUIDv4 form, as STIX 2.1 asks of SDOs (the bits come from a
    UUIDv5 of the content instead of a random source)."""
    digest = uuid.uuid5(NAMESPACE, kind + "|" + "|".join(map(str, parts))).bytes
    return f"{kind}--{uuid.UUID(bytes=digest, version=4)}"


def _quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern(i: Indicator) -> str:
    """The STIX pattern of one destination."""
    if i.ip_literal:
        kind = "ipv6-addr" if ":" in i.host else "ipv4-addr"
    else:
        kind = "domain-name"
    op, value = ("LIKE", _quote("%." + i.host)) if i.wildcard else ("=", _quote(i.host))
    if i.port is not None and i.scheme != "icmp":
        p = (
            f"[network-traffic:dst_ref.type = '{kind}' AND network-traffic:dst_ref.value {op} {value}"
            f" AND network-traffic:dst_port = {int(i.port)}]"
        )
    else:
        p = f"[{kind}:value {op} {value}]"
    if i.url:
        p += f" OR [url:value = {_quote(i.url)}]"
    return p


def _time(t: datetime | None, fallback: datetime) -> datetime:
    return (t or fallback).astimezone(UTC)


def bundle(indicators: IndicatorSet, sigs: SignatureSet, tlp: str = "amber"):
    """The `stix2.Bundle` (serialize with ``.serialize(pretty=True)``)."""
    stix2 = require("stix2", "intel", "STIX output")
    marking = getattr(stix2, TLP[tlp])
    t0 = _time(indicators.first_seen, EPOCH)
    me = stix2.Identity(
        id=_id("identity", "dropscan"), name="dropscan", identity_class="system", created=t0, modified=t0
    )
    common = {"created_by_ref": me.id, "object_marking_refs": [marking.id]}
    ext = stix2.ExtensionDefinition(
        id=_id("extension-definition", "dropscan-destination", 1),
        name="dropscan destination facts",
        description="x_dropscan_* properties of an indicator: the destination's host, port, scheme, and whether "
        "it is an IP literal, a wildcard (any name under host) or a DNS-only callback",
        schema="https://github.com/dropscan/dropscan/blob/main/docs/interop.md",
        version="1.0",
        extension_types=["toplevel-property-extension"],
        extension_properties=[
            f"x_dropscan_{p}" for p in ("host", "port", "scheme", "ip_literal", "wildcard", "via_resolver")
        ],
        created=t0,
        modified=t0,
        **common,
    )
    objects: list = [me, ext]
    by_sig = {s.id: s for s in sigs.signatures}
    patterns: dict[str, object] = {}
    hosts: dict[str, object] = {}
    for i in indicators.actionable:
        created = _time(i.first_seen, t0)
        facts = i.facts()
        ind = stix2.Indicator(
            id=_id("indicator", i.host, i.port, i.scheme, i.wildcard),
            name=f"{i.scheme}://{i.shown}" + (f":{i.port}" if i.port is not None else ""),
            description=f"Destination named by {i.findings} injected request(s)"
            + (f" ({'; '.join(facts)})" if facts else "")
            + f"; signatures: {', '.join(i.rule_ids)}",
            indicator_types=["malicious-activity"],
            pattern=pattern(i),
            pattern_type="stix",
            valid_from=created,
            created=created,
            modified=created,
            x_dropscan_host=i.host,
            x_dropscan_port=i.port,
            x_dropscan_scheme=i.scheme,
            x_dropscan_ip_literal=i.ip_literal,
            x_dropscan_wildcard=i.wildcard,
            x_dropscan_via_resolver=i.via_resolver,
            extensions={ext.id: {"extension_type": "toplevel-property-extension"}},
            allow_custom=True,
            **common,
        )
        objects.append(ind)
        ex = i.example
        if ex is not None:
            objects.append(
                stix2.Note(
                    id=_id("note", ind.id),
                    abstract="The request that named this destination",
                    content=f"request: {ex.request}\ndecoded {ex.field}: {ex.decoded}\n"
                    f"from {ex.client_ip} at {ex.timestamp.isoformat() if ex.timestamp else '-'}, "
                    f"answered {ex.status}",
                    object_refs=[ind.id],
                    created=created,
                    modified=created,
                    **common,
                )
            )
        for name, s in sorted(i.sightings.items()):
            host = hosts.get(name)
            if host is None:
                host = hosts[name] = stix2.Identity(
                    id=_id("identity", "host", name), name=name, identity_class="system", created=t0, modified=t0
                )
                objects.append(host)
            first = _time(s.first_seen, created)
            objects.append(
                stix2.Sighting(
                    id=_id("sighting", ind.id, name),
                    sighting_of_ref=ind.id,
                    where_sighted_refs=[host.id],
                    first_seen=first,
                    last_seen=_time(s.last_seen, first),
                    count=min(s.count, 999_999_999),
                    created=created,
                    modified=created,
                    **common,
                )
            )
        for rid in i.rule_ids:
            sig = by_sig.get(rid)
            if sig is None:
                continue
            ap = patterns.get(rid)
            if ap is None:
                refs = [{"source_name": "dropscan", "external_id": sig.id}]
                refs += [{"source_name": "mitre-attack", "external_id": t} for t in techniques(sig.references)]
                refs += [{"source_name": "cve", "external_id": c} for c in cves(sig.references)]
                ap = patterns[rid] = stix2.AttackPattern(
                    id=_id("attack-pattern", rid),
                    name=sig.name,
                    description=f"dropscan signature {sig.id} ({sig.category}, {sig.severity})",
                    external_references=refs,
                    created=t0,
                    modified=t0,
                    **common,
                )
                objects.append(ap)
            objects.append(
                stix2.Relationship(
                    id=_id("relationship", ind.id, ap.id),
                    relationship_type="indicates",
                    source_ref=ind.id,
                    target_ref=ap.id,
                    created=created,
                    modified=created,
                    **common,
                )
            )
    objects.append(marking)
    return stix2.Bundle(objects=objects, id=_id("bundle", *(o.id for o in objects)), allow_custom=True)
