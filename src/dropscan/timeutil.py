"""``--since``/``--until`` values: a duration back from now (``90m``, ``24h``, ``7d``, ``2w``) or a
timestamp (``2026-11-27``, ``2026-11-27T10:00``, with or without an offset; naive means UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import UsageError

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(s|m|min|h|d|w)", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    t = text.strip()
    m = _DURATION.fullmatch(t)
    if m:
        return (now or datetime.now(UTC)) - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()])
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}: use a duration like 24h or 7d, or an ISO time like 2026-11-27T10:00+01:00"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
