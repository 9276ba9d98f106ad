"""Times and durations from the command line.

* ``--since``/``--until``: a duration back from now (``90m``, ``24h``, ``7d``, ``2w``) or a
  timestamp (``2026-11-27``, ``2026-11-27T10:00``, with or without an offset; naive means UTC).
* ``--window``: a duration (`parse_duration`).
* ``--firewall-tz``: a UTC offset or an IANA zone name (`parse_tz`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from .errors import UsageError

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(s|m|min|h|d|w)", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?")


def _duration(text: str) -> timedelta | None:
    m = _DURATION.fullmatch(text.strip())
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()]) if m else None


def parse_duration(text: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w`` -> a timedelta."""
    d = _duration(text)
    if d is None:
        raise UsageError(f"cannot read duration {text!r}: use a number and a unit, like 30s, 10m, 2h or 1d")
    return d


def parse_tz(text: str) -> tzinfo:
    """``UTC``, ``Z``, ``+01:00``, ``-0500``, ``UTC+2`` or an IANA name such as ``Europe/Berlin``
    (which follows daylight saving time; a fixed offset does not)."""
    t = text.strip()
    if t.upper() in ("UTC", "Z", "GMT"):
        return UTC
    m = _OFFSET.fullmatch(t.upper())
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        if delta < timedelta(hours=24):
            return timezone(-delta if m.group(1) == "-" else delta)
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(t)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        pass
    raise UsageError(f"unknown time zone {text!r}: use an offset like +01:00, UTC, or a name like Europe/Berlin")


def parse_when(text: str, now: datetime | None = None) -> datetime:
    t = text.strip()
    d = _duration(t)
    if d is not None:
        return (now or datetime.now(UTC)) - d
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}: use a duration like 24h or 7d, or an ISO time like 2026-11-27T10:00+01:00"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
