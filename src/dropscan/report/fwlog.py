"""Kernel netfilter LOG lines (iptables ``-j LOG``, nftables ``log``, ufw) as firewall events,
and their correlation with the requests that named a destination.

Accepted line shapes (one event per line; gzip'd/rotated files are read like access logs)::

    Nov 27 17:10:01 web1 kernel: [12345.678901] [UFW BLOCK] IN= OUT=eth0 SRC=… DST=… PROTO=TCP SPT=… DPT=… UID=33 GID=33
    2026-11-27T17:10:01.123456+00:00 web1 kernel: [DROPSCAN EGRESS] IN= OUT=eth0 SRC=…
    2026-11-27T17:10:01+0000 web1 kernel: IN= OUT=eth0 SRC=…           (journalctl -k -o short-iso)

i.e. classic syslog (``/var/log/syslog``, ``kern.log``, ``ufw.log``, ``journalctl -k``), rsyslog's
RFC 3339 template and ``journalctl -o short-iso``; any or no log prefix; the printk time
(``[12345.678]``) optional; IPv4 (``TOS= TTL=``) and IPv6 (``TC= HOPLIMIT= FLOWLBL=``); UDP's
second ``LEN=`` ignored (the first value of each key is kept). The key order follows the kernel's
``nf_log_syslog.c``; see ../shared/reference/ecosystem.md §7.4 for real lines.

Outbound means ``IN=`` empty and ``OUT=`` set: a packet this machine sent. ``UID=``/``GID=`` are
present only when the rule logs them (iptables ``--log-uid``, nftables ``log flags skuid``);
ufw's own rules never do.

Times. A classic syslog time has no year and no zone: it is the local time of the machine that
logged it. Unless ``--firewall-tz`` names the zone, such a time (and an ISO time without an
offset) is read as the local time of the machine that served the request it is compared with,
i.e. in the UTC offset that request was logged with (Apache's ``%t`` records it). So logs that
span a daylight-saving change, or come from machines in different zones, still line up. The
year is the one that puts the line nearest the access log's span (`Clock`), so a ``Jan  1
00:03:00`` line read beside a log that ends on Dec 31 lands in the next year. ISO times with an
offset are taken as written.

Lines that are not netfilter LOG lines (other kernel messages, journal headers) are counted as
``other``; LOG-looking lines that cannot be read (no time, bad address) as ``unparsed``. Neither
is fatal.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_right
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from ..errors import InputError, UsageError
from ..sources.files import Source, open_blocks, read_chunks

DEFAULT_WINDOW = timedelta(minutes=10)

_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_LINE = re.compile(
    r"^(?:(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hms>\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?))"
    r" +(?P<host>\S+) +kernel(?:\[\d+\])?: +(?:\[ *\d+\.\d+\] ?)?"
    r"(?P<prefix>.*?)IN=(?P<in>\S*) OUT=(?P<out>\S*)(?P<rest>.*)$"
)
_KEY = re.compile(r"(?<!\S)([A-Z][A-Z0-9]*)=(\S*)")


@dataclass(frozen=True, slots=True)
class FirewallEvent:
    """One logged packet. ``src``/``dst`` are normalised IP text (IPv6 compressed, as in
    `dropscan.detect.egress.Destination`), so they compare equal to destination hosts."""

    time: datetime  # aware
    log_file: str
    line_no: int
    hostname: str
    prefix: str
    in_if: str
    out_if: str
    src: str
    dst: str
    proto: str | None
    spt: int | None
    dpt: int | None
    uid: int | None
    gid: int | None
    zone_assumed: bool = False  # ``time`` had no zone: its wall-clock value is what was logged

    @property
    def outbound(self) -> bool:
        """Sent by this machine: no input interface, an output interface."""
        return not self.in_if and bool(self.out_if)


@dataclass(slots=True)
class FirewallStats:
    """Line accounting of the firewall logs read for a report."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    events: int = 0
    outbound: int = 0
    other: int = 0
    unparsed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "files": list(self.files),
            "lines": self.lines,
            "events": self.events,
            "outbound": self.outbound,
            "other": self.other,
            "unparsed": self.unparsed,
            "errors": list(self.errors),
        }


class Clock:
    """Places firewall-log times on the access log's time line (see the module docstring).

    ``tz`` is the zone of times logged without one; when it is not given, such times get the
    offset of the access log's first finding and are marked ``zone_assumed``, for `Correlator`
    to read their wall-clock value in each request's own offset."""

    def __init__(self, first: datetime | None, last: datetime | None, tz: tzinfo | None = None):
        now = datetime.now(UTC)
        self.first = first or last or now
        self.last = last or self.first
        self.explicit = tz is not None
        self.tz = tz or self.first.tzinfo or UTC
        self._years: dict[tuple[int, int], int | None] = {}

    def syslog(self, month: int, day: int, hms: str) -> datetime | None:
        """A year-less local time, in the year nearest the access log's span."""
        key = (month, day)
        year = self._years[key] if key in self._years else self._years.setdefault(key, self._year(month, day))
        h, m, s = hms.split(":")
        sec, _, frac = s.partition(".")
        try:
            return datetime(year, month, day, int(h), int(m), int(sec), int((frac + "00000")[:6]), tzinfo=self.tz)
        except (ValueError, TypeError):  # no such day in any year near the log (Feb 30), 25:00:00
            return None

    def _year(self, month: int, day: int) -> int | None:
        """The year whose (month, day) is nearest the span: decided per date, not per line."""
        best: tuple[timedelta, int] | None = None
        for year in range(self.first.year - 1, self.last.year + 2):
            try:
                t = datetime(year, month, day, 12, tzinfo=self.tz)
            except ValueError:  # Feb 29 of a common year
                continue
            dist = self.first - t if t < self.first else (t - self.last if t > self.last else timedelta(0))
            if best is None or dist < best[0]:
                best = (dist, year)
        return best[1] if best else None

    def iso(self, text: str) -> tuple[datetime | None, bool]:
        """An ISO time, and whether its zone was assumed (it had no offset)."""
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None, False
        return (t, False) if t.tzinfo else (t.replace(tzinfo=self.tz), not self.explicit)


@lru_cache(maxsize=65536)  # a firewall log repeats few addresses; ipaddress is slow
def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def parse_line(line: str, clock: Clock, log_file: str = "-", line_no: int = 0) -> FirewallEvent | bool | None:
    """The event on one line; ``None`` when it is not a netfilter LOG line at all, ``False``
    when it looks like one but cannot be read."""
    m = _LINE.match(line)
    if m is None:
        return False if ("IN=" in line and " OUT=" in line) else None
    if m.group("iso"):
        when, assumed = clock.iso(m.group("iso"))
    else:
        when = clock.syslog(_MONTHS[m.group("mon")], int(m.group("day")), m.group("hms"))
        assumed = not clock.explicit
    kv = dict(reversed(_KEY.findall(m.group("rest"))))  # the first value of a key wins (UDP's second LEN=)
    src, dst = _ip(kv.get("SRC", "")), _ip(kv.get("DST", ""))
    if when is None or src is None or dst is None:
        return False
    return FirewallEvent(
        time=when,
        log_file=log_file,
        line_no=line_no,
        hostname=m.group("host"),
        prefix=m.group("prefix").strip(),
        in_if=m.group("in"),
        out_if=m.group("out"),
        src=src,
        dst=dst,
        proto=kv.get("PROTO") or None,
        spt=_int(kv.get("SPT")),
        dpt=_int(kv.get("DPT")),
        uid=_int(kv.get("UID")),
        gid=_int(kv.get("GID")),
        zone_assumed=assumed,
    )


def parse_lines(
    lines: Iterable[str], clock: Clock, stats: FirewallStats, log_file: str = "-"
) -> Iterator[FirewallEvent]:
    """Events of in-memory lines, counting every line in ``stats``."""
    for n, line in enumerate(lines, 1):
        stats.lines += 1
        ev = parse_line(line.rstrip("\r\n"), clock, log_file, n)
        if ev is None:
            stats.other += 1
        elif ev is False:
            stats.unparsed += 1
        else:
            stats.events += 1
            stats.outbound += ev.outbound
            yield ev


def _text_lines(path: str) -> Iterator[str]:
    for chunk, _ in read_chunks(open_blocks(Source(path))):
        yield from chunk.decode("utf-8", "replace").splitlines()


def read_events(paths: Iterable[str], clock: Clock, stats: FirewallStats) -> Iterator[FirewallEvent]:
    """Events of firewall-log files (plain or compressed). A file that cannot be read is an
    error in ``stats`` after the lines before the damage were used."""
    for path in paths:
        stats.files.append(path)
        try:
            yield from parse_lines(_text_lines(path), clock, stats, path)
        except InputError as e:
            stats.errors.append(str(e))


class Correlator:
    """Requests that carried an IP destination, matched against outbound packets.

    A packet confirms a request's destination when it leaves this machine (`outbound`) for the
    destination's IP and port (any port when the destination has none), at or after the request
    time and at most ``window`` later, and, when ``uid`` is given, carries that ``UID=``. A packet
    time logged without a zone is compared in the request's own UTC offset. Hostname
    destinations are never added: a packet shows an address, not the name it was resolved from.
    """

    def __init__(self, window: timedelta = DEFAULT_WINDOW, uid: int | None = None):
        self.window = window
        self.uid = uid
        # (ip, port) -> the requests' UTC offset -> key -> request times (POSIX seconds: fast to bisect)
        self._times: dict[tuple[str, int | None], dict[timezone, dict[Hashable, list[float]]]] = {}
        self._sorted = True

    def add(self, ip: str, port: int | None, when: datetime, key: Hashable) -> None:
        offset = timezone(when.utcoffset() or timedelta(0))
        self._times.setdefault((ip, port), {}).setdefault(offset, {}).setdefault(key, []).append(when.timestamp())
        self._sorted = False

    def match(self, ev: FirewallEvent) -> list[tuple[Hashable, datetime]]:
        """(key, packet time) of each request key this packet confirms; the packet time is
        placed in the request's offset when the log gave none."""
        if not ev.outbound or (self.uid is not None and ev.uid != self.uid):
            return []
        if not self._sorted:
            for by_offset in self._times.values():
                for by_key in by_offset.values():
                    for times in by_key.values():
                        times.sort()
            self._sorted = True
        out: list[tuple[Hashable, datetime]] = []
        window = self.window.total_seconds()
        for port in (ev.dpt, None) if ev.dpt is not None else (None,):
            for offset, by_key in self._times.get((ev.dst, port), {}).items():
                t = ev.time.replace(tzinfo=offset) if ev.zone_assumed else ev.time
                ts = t.timestamp()
                for key, times in by_key.items():
                    i = bisect_right(times, ts)
                    if i and ts - times[i - 1] <= window:
                        out.append((key, t))
        return out


def resolve_uid(user: str) -> int:
    """A numeric uid, or a user name looked up on this machine (pass the number when the
    firewall log comes from another machine, where the name may map to another uid)."""
    if user.isdigit():
        return int(user)
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise UsageError(f"unknown user {user!r} on this machine: give the numeric uid instead") from None
