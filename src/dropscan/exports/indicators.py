"""Destinations aggregated into indicators of compromise, one per (host, port, scheme).

Indicators come only from findings on parsed requests, never from rejected lines (a finding
on a line that is not a record is counted in ``unparsed`` and gives no indicator). Each
carries what the formats need: first/last seen, how many findings named it, the
signatures that did, a sighting per receiving host, one request for context, and the facts
that change what a defender does with it: an IP literal (a DNS-only block does not stop it), a
wildcard (``*.x.example``: any name under the suffix, as DNS-callback payloads use), a DNS-only
callback via the resolver (``scheme dns``: a lookup is the whole exfiltration), a ping (``scheme icmp``, no port).

`internal` destinations (loopback, RFC 1918/4193 private, link-local, CGNAT, multicast,
reserved, unspecified; ``localhost`` names) are never indicators to act on: the STIX and text
outputs leave them out, MISP keeps them as context with ``to_ids`` false. The documentation
ranges (RFC 5737 ``192.0.2.0/24``, ``198.51.100.0/24``, ``203.0.113.0/24``; RFC 3849
``2001:db8::/32``) count as public: they stand for public addresses in examples and tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ..detect.findings import Finding
from ..report.egress_report import _span  # first/last seen, as the report keeps them

_DOCS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_LOCAL_SUFFIXES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")


def is_internal(host: str, ip_literal: bool) -> bool:
    """Whether a destination is a private or reserved address (never a target)."""
    if not ip_literal:
        return host == "localhost" or host.endswith(_LOCAL_SUFFIXES)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True  # not an address we can vouch for: never an indicator
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in n for n in _DOCS if n.version == ip.version):
        return False
    return ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified or ip in _CGNAT


@dataclass(slots=True)
class Sighting:
    """One receiving host that got requests naming the indicator."""

    host: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(slots=True)
class Indicator:
    host: str  # for a wildcard, the fixed suffix
    port: int | None
    scheme: str
    ip_literal: bool
    wildcard: bool = False
    url: str | None = None
    findings: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    rule_ids: list[str] = field(default_factory=list)
    sightings: dict[str, Sighting] = field(default_factory=dict)
    example: Finding | None = None  # the first request that named it

    @property
    def key(self) -> tuple[str, int | None, str, bool]:
        return (self.host, self.port, self.scheme, self.wildcard)

    @property
    def internal(self) -> bool:
        return is_internal(self.host, self.ip_literal)

    @property
    def via_resolver(self) -> bool:
        """A DNS callback: the local resolver makes the lookup, and the lookup itself carries the
        data (`dropscan.detect.egress.Destination.via_resolver`); blocking the web user does not help."""
        return self.scheme == "dns"

    @property
    def kind(self) -> str:
        return "ip" if self.ip_literal else "domain"

    @property
    def shown(self) -> str:
        """The host as a blocklist writes it: ``*.suffix`` for a wildcard."""
        return f"*.{self.host}" if self.wildcard else self.host

    def facts(self) -> list[str]:
        """The facts that change what a defender does, as short phrases."""
        out = []
        if self.wildcard:
            out.append(f"wildcard: any name under {self.host}")
        if self.via_resolver:
            out.append("DNS callback via resolver: the lookup itself is the contact")
        if self.scheme == "icmp":
            out.append("ping (ICMP), no port")
        if self.ip_literal:
            out.append("IP literal: a DNS-only egress block does not stop it")
        if self.internal:
            out.append("private/reserved address: context only, not an indicator")
        return out


@dataclass(slots=True)
class IndicatorSet:
    indicators: list[Indicator]
    findings: int  # findings read
    with_destinations: int  # findings on requests that named at least one destination
    unparsed: int = 0  # findings on lines that are not requests: they give no indicator

    @property
    def actionable(self) -> list[Indicator]:
        return [i for i in self.indicators if not i.internal]

    @property
    def internal(self) -> list[Indicator]:
        return [i for i in self.indicators if i.internal]

    @property
    def first_seen(self) -> datetime | None:
        return min((i.first_seen for i in self.indicators if i.first_seen), default=None)


def collect(findings: Iterable[Finding], receiver: Callable[[Finding], str]) -> IndicatorSet:
    """Aggregate the destinations of ``findings``; ``receiver`` names the host that got each
    (`dropscan.report.hosts.HostRule`). Order: most findings first, then host, port, scheme."""
    by_key: dict[tuple, Indicator] = {}
    n = with_dest = 0
    unparsed = 0
    for f in findings:
        n += 1
        if f.field == "line":  # the line was no request: nothing is acted on from its text
            unparsed += 1
            continue
        if f.egress:
            with_dest += 1
        seen = set()
        for d in f.egress:
            key = d.key
            if key in seen:
                continue
            seen.add(key)
            ind = by_key.get(key)
            if ind is None:
                ind = by_key[key] = Indicator(d.host, d.port, d.scheme, d.ip_literal, d.wildcard, d.url, example=f)
            ind.findings += 1
            ind.first_seen, ind.last_seen = _span(ind.first_seen, ind.last_seen, f.timestamp)
            for r in f.rule_ids:
                if r not in ind.rule_ids:
                    ind.rule_ids.append(r)
            name = receiver(f)
            s = ind.sightings.get(name)
            if s is None:
                s = ind.sightings[name] = Sighting(name)
            s.count += 1
            s.first_seen, s.last_seen = _span(s.first_seen, s.last_seen, f.timestamp)
    ordered = sorted(by_key.values(), key=lambda i: (-i.findings, i.host, i.port or 0, i.scheme, i.wildcard))
    return IndicatorSet(ordered, n, with_dest, unparsed)
