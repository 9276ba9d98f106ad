"""The egress report: per receiving host, does it need outbound blocking, and toward where.

The question the tool exists to answer. Findings (from a `dropscan.engine.Scan`, or any iterable:
the "which findings" step stays separate, so an incremental run can feed this the same way) are
grouped by receiving host (`dropscan.report.hosts.HostRule`) and summed up:

* ``needs_egress_blocking``: the host received at least one finding that names an outbound
  destination (a URL to fetch, a host and port to connect to). Findings without one (probes,
  ``eval-stdin.php`` scans) are counted but do not set it: there is nothing to block.
* ``answered_2xx_3xx`` / ``answered_4xx_5xx``: how the server answered those findings; a 2xx/3xx
  answer means the request reached something that ran, the one to read first.
* destinations ranked by count, each with host, port, scheme and ``ip_literal`` (a DNS-only egress
  block, blocking name resolution for the web user, does not stop an IP literal; it does stop a
  name), and ``confirmed`` when a firewall log shows this machine sending a packet to that IP and
  port within the window after a request that carried it (`dropscan.report.fwlog.Correlator`). Confirmed
  destinations lead: they are evidence that an injection executed. A ``wildcard`` destination
  is the fixed suffix of a name built at run time (shown ``*.host``).
* ``via_resolver``: a DNS-only callback (scheme ``dns``). The local resolver (systemd-resolved,
  nscd, dnsmasq) makes the lookup as its own user, so the web user's egress rule does not stop
  it; what does is the resolver: an allowlist of the names the application needs, or a
  sinkhole (RPZ) for these names (`sinkhole_lines`).

`ReportBuilder` is the pure part (findings and firewall events in, `Report` out); `build_report`
wires in the firewall-log files. Rendering lives in `dropscan.outputs.render`, rules in `dropscan.report.rules`.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo

from ..detect.egress import Destination
from ..detect.findings import SCHEMA_VERSION, Finding
from .fwlog import DEFAULT_WINDOW, Clock, Correlator, FirewallEvent, FirewallStats, read_events
from .hosts import HostRule, host_from_path

DestKey = tuple[str, int | None, str, bool]  # (host, port, scheme, wildcard)
MAX_DESTINATIONS = 1000  # destinations kept in detail per host (the attacker chooses how many there are)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _span(first: datetime | None, last: datetime | None, t: datetime | None) -> tuple[datetime | None, ...]:
    if t is None:
        return first, last
    return (t if first is None or t < first else first), (t if last is None or t > last else last)


@dataclass(slots=True)
class DestinationStats:
    """One destination of one receiving host."""

    host: str
    port: int | None
    scheme: str
    ip_literal: bool
    findings: int = 0
    answered_2xx_3xx: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    url: str | None = None  # the first URL that named it, when there was one
    confirmed_at: datetime | None = None  # the first outbound packet that confirms it
    firewall_events: int = 0
    wildcard: bool = False
    unparsed: int = 0  # of ``findings``, those on lines that were not parsed as requests (no rules)
    uncounted: int = 0  # findings it may have had before it was last (re)added (see `HostStats.destination`)
    seq: int = 0  # arrival order in its host (the older of two equally rare ones is dropped first)
    hosts: list[str] = field(default_factory=list)  # fleet-wide (`Report.destinations`): who received it

    @classmethod
    def of(cls, d: Destination) -> DestinationStats:
        return cls(d.host, d.port, d.scheme, d.ip_literal, url=d.url, wildcard=d.wildcard)

    @property
    def weight(self) -> int:
        """At least its findings, at most this many: what decides which destination is dropped."""
        return self.findings + self.uncounted

    @property
    def key(self) -> DestKey:
        return (self.host, self.port, self.scheme, self.wildcard)

    @property
    def via_resolver(self) -> bool:
        return self.scheme == "dns"

    @property
    def shown_host(self) -> str:
        return f"*.{self.host}" if self.wildcard else self.host

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    def rank(self) -> tuple:
        return (not self.confirmed, -self.findings, -self.answered_2xx_3xx, self.host, self.port or 0, self.scheme)

    def as_dict(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "scheme": self.scheme,
            "ip_literal": self.ip_literal,
            "wildcard": self.wildcard,
            "via_resolver": self.via_resolver,
            "findings": self.findings,
            "confirmed": self.confirmed,
            "answered_2xx_3xx": self.answered_2xx_3xx,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "first_confirmed": _iso(self.confirmed_at),
            "firewall_events": self.firewall_events,
            "unparsed": self.unparsed,
            "uncounted": self.uncounted,
            "url": self.url,
        }


@dataclass(slots=True)
class HostStats:
    """Everything the report says about one receiving host."""

    host: str
    findings: int = 0
    findings_with_destinations: int = 0
    answered_2xx_3xx: int = 0
    answered_4xx_5xx: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    clients: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    dests: dict[DestKey, DestinationStats] = field(default_factory=dict)
    more_destinations: int = 0  # destinations dropped from ``dests`` (at most this many distinct ones)
    more_findings: int = 0  # the findings those had counted
    _heap: list[tuple[int, int, DestKey]] = field(default_factory=list)  # (findings, seq, key), lazy
    _seq: int = 0

    def destination(self, key: DestKey, new: Callable[[], DestinationStats]) -> DestinationStats:
        """The stats of ``key``, made with ``new`` if absent (the caller then counts the finding).

        At most `MAX_DESTINATIONS` are kept, by the Space-Saving rule (Metwally et al. 2005):
        a new destination replaces the one of least ``weight`` (the older of equals), whose
        findings move to ``more_findings``, and inherits that weight as ``uncounted``. So a
        destination named by more than 1/`MAX_DESTINATIONS` of a host's findings is always
        kept, ``findings`` is exact since it was last added and the true count is at most
        ``weight``; memory stays bounded whatever the logs name."""
        ds = self.dests.get(key)
        if ds is not None:
            if self._heap:
                heapq.heappush(self._heap, (ds.weight + 1, ds.seq, key))
                if len(self._heap) > 4 * MAX_DESTINATIONS:
                    self._heap = [(d.weight + (k == key), d.seq, k) for k, d in self.dests.items()]
                    heapq.heapify(self._heap)
            return ds
        uncounted = 0
        if len(self.dests) >= MAX_DESTINATIONS:
            if not self._heap:
                self._heap = [(d.weight, d.seq, k) for k, d in self.dests.items()]
                heapq.heapify(self._heap)
            while True:
                n, seq, k = heapq.heappop(self._heap)
                old = self.dests.get(k)
                if old is not None and old.seq == seq and old.weight == n:
                    break
            del self.dests[k]
            self.more_destinations += 1
            self.more_findings += old.findings
            uncounted = n
        self._seq += 1
        ds = self.dests[key] = new()
        ds.seq, ds.uncounted = self._seq, uncounted
        if self._heap:
            heapq.heappush(self._heap, (ds.weight + 1, ds.seq, key))
        return ds

    @property
    def needs_egress_blocking(self) -> bool:
        return self.findings_with_destinations > 0

    @property
    def destinations(self) -> list[DestinationStats]:
        """Confirmed first, then by number of findings."""
        return sorted(self.dests.values(), key=DestinationStats.rank)

    @property
    def confirmed(self) -> int:
        return sum(d.confirmed for d in self.dests.values())

    @property
    def resolver_callbacks(self) -> list[DestinationStats]:
        """The DNS-only callbacks, which only the resolver can stop."""
        return [d for d in self.destinations if d.via_resolver]

    def ranked_clients(self) -> list[tuple[str, int]]:
        return sorted(self.clients.items(), key=lambda kv: (-kv[1], kv[0]))

    def rank(self) -> tuple:
        return (
            -self.confirmed,
            not self.needs_egress_blocking,
            -self.findings_with_destinations,
            -self.findings,
            self.host,
        )

    def as_dict(self) -> dict:
        return {
            "host": self.host,
            "needs_egress_blocking": self.needs_egress_blocking,
            "findings": self.findings,
            "findings_with_destinations": self.findings_with_destinations,
            "answered_2xx_3xx": self.answered_2xx_3xx,
            "answered_4xx_5xx": self.answered_4xx_5xx,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "clients": [{"ip": ip, "findings": n} for ip, n in self.ranked_clients()],
            "categories": dict(sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))),
            "confirmed": self.confirmed,
            "via_resolver": len(self.resolver_callbacks),
            "destinations": [d.as_dict() for d in self.destinations],
            "more_destinations": self.more_destinations,
            "more_destination_findings": self.more_findings,
        }


@dataclass(slots=True)
class Report:
    hosts: list[HostStats]
    days: dict[date, Counter[str]]  # UTC day -> category -> findings
    window: timedelta = DEFAULT_WINDOW
    firewall: FirewallStats | None = None
    scan: dict | None = None  # the scan's summary (files, totals, errors), when there was a scan
    first: datetime | None = None  # the period the findings cover
    last: datetime | None = None
    untimed: int = 0  # findings without a timestamp: counted everywhere, in no day
    host: str | None = None  # the --host name, for naming the hosts of clean files

    @property
    def complete(self) -> bool:
        """Nothing failed: every input named was read (a report of what could be read is not an all-clear)."""
        return not self.errors

    @property
    def clean_hosts(self) -> list[str]:
        """Hosts whose logs were read and held no finding (named by `dropscan.report.hosts` rules 2-3;
        a log with ``%v`` names its hosts per line, so its clean vhosts are not known)."""
        seen = {h.host for h in self.hosts}
        clean = set()
        for f in (self.scan or {}).get("files", []):
            if f["status"] in ("clean", "findings") and not (f["format"] or "").startswith("vhost"):
                name = self.host or host_from_path(f["path"])
                if name not in seen:
                    clean.add(name)
        return sorted(clean)

    @property
    def findings(self) -> int:
        return sum(h.findings for h in self.hosts)

    @property
    def needing_block(self) -> list[HostStats]:
        return [h for h in self.hosts if h.needs_egress_blocking]

    @property
    def errors(self) -> list[str]:
        return list((self.scan or {}).get("errors", [])) + (self.firewall.errors if self.firewall else [])

    def destinations(self) -> list[DestinationStats]:
        """Every destination over all hosts, merged by (host, port, scheme), ranked."""
        merged: dict[DestKey, DestinationStats] = {}
        for h in self.hosts:
            for d in h.dests.values():
                m = merged.get(d.key)
                if m is None:
                    m = merged[d.key] = replace(
                        d, findings=0, answered_2xx_3xx=0, firewall_events=0, confirmed_at=None, hosts=[]
                    )
                m.hosts.append(h.host)
                m.findings += d.findings
                m.answered_2xx_3xx += d.answered_2xx_3xx
                m.firewall_events += d.firewall_events
                m.first_seen, m.last_seen = _span(m.first_seen, m.last_seen, d.first_seen)
                m.first_seen, m.last_seen = _span(m.first_seen, m.last_seen, d.last_seen)
                if d.confirmed_at and (m.confirmed_at is None or d.confirmed_at < m.confirmed_at):
                    m.confirmed_at = d.confirmed_at
        for m in merged.values():
            m.hosts.sort()
        return sorted(merged.values(), key=DestinationStats.rank)

    def as_dict(self) -> dict:
        """The JSON report (docs/report.md): ``{"schema_version", "complete", "errors", "scan",
        "clean_hosts", "period", "hosts", "destinations", "summary", "days", "untimed_findings",
        "firewall"}``: what was covered comes first."""
        dests = self.destinations()
        return {
            "schema_version": SCHEMA_VERSION,
            "complete": self.complete,
            "errors": self.errors,
            "scan": self.scan,
            "clean_hosts": self.clean_hosts,
            "period": {"first": _iso(self.first), "last": _iso(self.last)},
            "hosts": [h.as_dict() for h in self.hosts],
            "destinations": [{**d.as_dict(), "hosts": d.hosts} for d in dests],
            "summary": {
                "hosts": len(self.hosts),
                "needs_egress_blocking": [h.host for h in self.needing_block],
                "findings": self.findings,
                "destinations": len(dests),
                "ip_destinations": sum(d.ip_literal for d in dests),
                "confirmed_destinations": sum(d.confirmed for d in dests),
                "via_resolver_destinations": sum(d.via_resolver for d in dests),
            },
            "days": [
                {"date": day.isoformat(), "category": cat, "findings": n}
                for day, cats in sorted(self.days.items())
                for cat, n in sorted(cats.items())
            ],
            "untimed_findings": self.untimed,
            "window_seconds": int(self.window.total_seconds()),
            "firewall": self.firewall.as_dict() if self.firewall else None,
        }


class ReportBuilder:
    """Findings in (`add`), optional firewall events in (`correlate`), a `Report` out."""

    def __init__(self, host_rule: Callable[[Finding], str] | None = None, correlating: bool = True):
        self.host_rule = host_rule or HostRule()
        self.correlating = correlating  # keep request times for `correlate` (not without firewall logs)
        self.hosts: dict[str, HostStats] = {}
        self.days: dict[date, Counter[str]] = {}
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.untimed = 0
        self._requests: list[tuple[str, DestKey, datetime]] = []  # IP destinations, for correlation
        self.window = DEFAULT_WINDOW
        self.firewall: FirewallStats | None = None

    def add(self, f: Finding) -> None:
        name = self.host_rule(f)
        h = self.hosts.get(name)
        if h is None:
            h = self.hosts[name] = HostStats(name)
        h.findings += 1
        if f.egress:
            h.findings_with_destinations += 1
        if f.answered:
            h.answered_2xx_3xx += 1
        elif f.status is not None and f.status >= 400:
            h.answered_4xx_5xx += 1
        t = f.timestamp
        h.first_seen, h.last_seen = _span(h.first_seen, h.last_seen, t)
        self.first, self.last = _span(self.first, self.last, t)
        if f.client_ip:
            h.clients[f.client_ip] += 1
        h.categories[f.category] += 1
        if t is not None:
            self.days.setdefault(t.astimezone(UTC).date(), Counter())[f.category] += 1
        else:
            self.untimed += 1
        seen: set[DestKey] = set()
        for d in f.egress:
            key = d.key
            if key in seen:  # named twice in one request: one finding
                continue
            seen.add(key)
            ds = h.destination(key, lambda d=d: DestinationStats.of(d))
            ds.findings += 1
            ds.unparsed += f.field == "line"
            ds.answered_2xx_3xx += f.answered
            ds.first_seen, ds.last_seen = _span(ds.first_seen, ds.last_seen, t)
            if self.correlating and d.ip_literal and t is not None:
                self._requests.append((name, key, t))

    def add_all(self, findings: Iterable[Finding]) -> ReportBuilder:
        for f in findings:
            self.add(f)
        return self

    def clock(self, tz: tzinfo | None = None) -> Clock:
        """The clock that reads this access log's firewall logs (see `dropscan.report.fwlog.Clock`)."""
        return Clock(self.first, self.last, tz)

    def correlate(
        self, events: Iterable[FirewallEvent], window: timedelta = DEFAULT_WINDOW, uid: int | None = None
    ) -> None:
        """Mark destinations confirmed by outbound packets (see `dropscan.report.fwlog.Correlator`)."""
        self.window = window
        c = Correlator(window, uid)
        for name, key, t in self._requests:
            c.add(key[0], key[1], t, (name, key))
        for ev in events:
            for (name, key), when in c.match(ev):
                ds = self.hosts[name].dests.get(key)
                if ds is None:  # dropped from the detail since (see `HostStats.destination`)
                    continue
                ds.firewall_events += 1
                if ds.confirmed_at is None or when < ds.confirmed_at:
                    ds.confirmed_at = when

    def report(self, scan: dict | None = None, host: str | None = None) -> Report:
        return Report(
            hosts=sorted(self.hosts.values(), key=HostStats.rank),
            days=self.days,
            window=self.window,
            firewall=self.firewall,
            scan=scan,
            first=self.first,
            last=self.last,
            untimed=self.untimed,
            host=host,
        )


_RPZ_NAME = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")


def sinkhole_lines(names: Iterable[str]) -> list[str]:
    """RPZ records (``NAME CNAME .``: answer NXDOMAIN) for each callback name and every name
    under it (the labels before it are chosen at run time). Only well-formed host names are
    written, so log text cannot add records."""
    out: list[str] = []
    for n in sorted({n for n in names if _RPZ_NAME.fullmatch(n)}):
        out += [f"{n} CNAME .", f"*.{n} CNAME ."]
    return out


def build_report(
    findings: Iterable[Finding],
    *,
    host: str | None = None,
    firewall_logs: Iterable[str] | None = None,
    window: timedelta = DEFAULT_WINDOW,
    uid: int | None = None,
    firewall_tz: tzinfo | None = None,
    scan_summary: Callable[[], dict] | None = None,
) -> Report:
    """Findings (and firewall-log files) -> `Report`. ``scan_summary`` is called after the
    findings are consumed (a `Scan`'s ``summary``), so its line accounting is complete."""
    b = ReportBuilder(HostRule(host), correlating=firewall_logs is not None).add_all(findings)
    if firewall_logs is not None:
        b.firewall = FirewallStats()
        b.correlate(read_events(list(firewall_logs), b.clock(firewall_tz), b.firewall), window, uid)
    return b.report(scan_summary() if scan_summary else None, host)
