"""Which findings are reported: ``--min-severity``, ``--category`` and the config file's
suppressions. Nothing held back is lost: `FindingFilter` counts every finding it keeps out, per
rule and per suppression, and the run summary shows those counts.

A suppression names what it covers (all given criteria must hold) and why, and expires:

* ``rule`` — a glob on the finding's primary rule id (``dropper.curl``, ``probe.*``);
* ``category`` — the primary signature's category;
* ``client`` — a CIDR (or one address) the client address must be in;
* ``path`` — a glob on the request's path (the target before ``?``);
* ``host`` — a glob on the receiving host, named as by ``dropscan report`` (`HostRule`);
* ``destination`` — a glob on host names or a CIDR; the finding must name at least one
  destination and *every* destination must match (a monitoring probe to our own host is
  suppressed; the same request also fetching from elsewhere is not);
* ``expires`` — a date (``2027-01-31``: through that day, UTC) or a time with an offset.

Determinism: expiry is compared with the finding's own timestamp — a request logged before the
expiry is suppressed whenever, and however often, the log is scanned. A finding without a
timestamp is compared with ``--now`` when given, and otherwise is never suppressed by an
expiring entry (it is reported: a suppression must be shown to apply). The wall clock is never
read here.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fnmatch import fnmatchcase

from ..detect.findings import Finding
from ..detect.signatures import CATEGORIES, SEVERITIES
from ..errors import UsageError
from .hosts import HostRule

CRITERIA = ("rule", "category", "client", "path", "host", "destination")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(text: str, where: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{where}: {text!r} is not an address or CIDR") from None


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]")) if text else None
    except ValueError:
        return None


def parse_expiry(value: object, where: str) -> datetime:
    """A TOML date (through that day, UTC), a datetime with an offset, or the same as a string."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            raise UsageError(f"{where}: expires {value!r} is not a date like 2027-01-31") from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC) + timedelta(days=1)
    raise UsageError(f"{where}: expires must be a date like 2027-01-31")


def request_path(f: Finding) -> str | None:
    """The path of the request target (``GET /a/b?c HTTP/1.1`` -> ``/a/b``)."""
    if not f.request:
        return None
    parts = f.request.split(" ")
    target = parts[1] if len(parts) >= 2 else parts[0]
    return target.split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class Suppression:
    reason: str
    expires: datetime  # exclusive
    rule: str | None = None
    category: str | None = None
    client: Network | None = None
    path: str | None = None
    host: str | None = None
    destination: str | None = None
    number: int = 0  # its place in the config file, 1-based, for messages and counts

    @classmethod
    def parse(cls, raw: object, number: int) -> Suppression:
        where = f"suppress #{number}"
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: expected a table ([[suppress]])")
        unknown = set(raw) - {"reason", "expires", *CRITERIA}
        if unknown:
            raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        for k in (*CRITERIA, "reason"):
            if k in raw and not isinstance(raw[k], str):
                raise UsageError(f"{where}: {k} must be a string")
        reason = (raw.get("reason") or "").strip()
        if not reason:
            raise UsageError(f"{where}: a suppression needs a reason")
        if "expires" not in raw:
            raise UsageError(f"{where}: a suppression needs an expiry date (expires = 2027-01-31)")
        if not any(raw.get(k) for k in CRITERIA):
            raise UsageError(f"{where}: name what it covers: one or more of {', '.join(CRITERIA)}")
        if raw.get("category") and raw["category"] not in CATEGORIES:
            raise UsageError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
        return cls(
            reason=reason,
            expires=parse_expiry(raw["expires"], where),
            rule=raw.get("rule"),
            category=raw.get("category"),
            client=_network(raw["client"], where) if raw.get("client") else None,
            path=raw.get("path"),
            host=raw["host"].lower() if raw.get("host") else None,
            destination=raw["destination"].lower() if raw.get("destination") else None,
            number=number,
        )

    def _destination(self, host: str) -> bool:
        assert self.destination is not None
        if "/" in self.destination or _ip(self.destination) is not None:
            ip = _ip(host)
            net = ipaddress.ip_network(self.destination, strict=False)
            return ip is not None and ip.version == net.version and ip in net
        return fnmatchcase(host.lower(), self.destination)

    def covers(self, f: Finding, host: str, now: datetime | None) -> bool:
        when = f.timestamp or now
        if when is None or when >= self.expires:
            return False
        if self.rule and not fnmatchcase(f.rule_ids[0], self.rule):
            return False
        if self.category and f.category != self.category:
            return False
        if self.client is not None:
            ip = _ip(f.client_ip)
            if ip is None or ip.version != self.client.version or ip not in self.client:
                return False
        if self.path:
            path = request_path(f)
            if path is None or not fnmatchcase(path, self.path):
                return False
        if self.host and not fnmatchcase(host, self.host):
            return False
        return not self.destination or (bool(f.egress) and all(self._destination(d.host) for d in f.egress))


class FindingFilter:
    """``keep(finding)``: whether a finding is reported. Counts what it holds back."""

    def __init__(
        self,
        min_severity: str | None = None,
        categories: list[str] | None = None,
        suppressions: list[Suppression] | None = None,
        host_rule: HostRule | None = None,
        now: datetime | None = None,
    ):
        if min_severity is not None and min_severity not in SEVERITIES:
            raise UsageError(f"--min-severity must be one of {', '.join(SEVERITIES)}")
        bad = sorted(set(categories or ()) - set(CATEGORIES))
        if bad:
            raise UsageError(f"unknown category {', '.join(bad)}: use {', '.join(CATEGORIES)}")
        self.min_rank = SEVERITIES.index(min_severity) if min_severity else 0
        self.categories = frozenset(categories) if categories else None
        self.suppressions = list(suppressions or ())
        self.host_rule = host_rule or HostRule()
        self.now = now
        self.below_severity = 0
        self.other_category = 0
        self.suppressed: Counter[str] = Counter()  # per primary rule id
        self.by_suppression: Counter[int] = Counter()

    @property
    def active(self) -> bool:
        return bool(self.min_rank or self.categories is not None or self.suppressions)

    def keep(self, f: Finding) -> bool:
        if SEVERITIES.index(f.severity) < self.min_rank:
            self.below_severity += 1
            return False
        if self.categories is not None and f.category not in self.categories:
            self.other_category += 1
            return False
        if self.suppressions:
            host = self.host_rule(f)
            for s in self.suppressions:
                if s.covers(f, host, self.now):
                    self.suppressed[f.rule_ids[0]] += 1
                    self.by_suppression[s.number] += 1
                    return False
        return True

    def summary(self) -> dict:
        """What was held back: the ``filtered`` part of the run summary."""
        return {
            "below_min_severity": self.below_severity,
            "other_category": self.other_category,
            "suppressed": sum(self.suppressed.values()),
            "suppressed_by_rule": dict(sorted(self.suppressed.items())),
            "suppressed_by_entry": [
                {"entry": s.number, "reason": s.reason, "findings": self.by_suppression[s.number]}
                for s in self.suppressions
            ],
        }
