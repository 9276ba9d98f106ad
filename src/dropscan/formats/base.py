"""What every log format gives the scanner, and one implementation for fixed-layout lines.

A format is an object with

* ``name``: what the summary shows, and a spec `dropscan.formats.compile_format` accepts again
  (worker processes and the cron state rebuild the format from it);
* ``format``: a key for its compiled grammar (the name will do);
* ``grammar``: ``(?:LINE\\r?\\n)*`` over a chunk, the fast path's proof that every line of a
  chunk is a record (hyperscan-compatible: no look-around, no back-references);
* ``parse(line) -> Record | None`` and ``match(line) -> bool``, agreeing with the grammar;
* ``unquoted_inspected`` and ``markers``: what the prefilter must add to stay sound for it (a raw
  double quote inside an inspected field; the escapes its parser undoes, see
  `dropscan.detect.prefilter`).

`PatternFormat` serves the formats whose lines have a fixed layout (load balancers, proxies):
one regex with named groups whose names say which `Record` attribute a group fills. Lines that
belong to the log but are no request (W3C directives, a proxy's start-up messages, blank
lines) match ``meta`` and are records without inspected fields; the meta pattern of every
format is written so that it cannot hold a request line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

from .logformat import Record, apache_unescape, host_only, parse_clf_time, split_request, strip_eol

# A number (with a fraction: timings) or dash, an ISO 8601 time, a blank line.
NUM = rb"(?:-?[0-9]+(?:\.[0-9]+)?|-)"
ISO_TIME = rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
BLANK = rb"[ \t]*\r?"
# One JSON object on a line, its strings closed (json itself decides the rest).
JSON_STRING = rb'"(?:[^"\\\n]|\\[^\n])*"'
JSON_LINE = rb"[ \t]*\{(?:[^\"\n]|" + JSON_STRING + rb")*\}[ \t]*\r?"

_GROUP = re.compile(rb"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


def opaque(line: bytes) -> Record:
    """A line the chunk grammar accepts but the parser cannot read (JSON that ``json``
    refuses, a wrapper around no known line): a record whose one inspected field is the whole
    line, as a reject's would be. The grammar decides what a record is, on both paths."""
    rec = Record()
    rec.headers["line"] = line.decode("utf-8", "backslashreplace")
    rec.raw["line"] = line
    return rec


def plain(rx: bytes) -> bytes:
    """The same regex without group names (for the chunk grammar)."""
    return _GROUP.sub(b"(?:", rx)


def dash_none(value: str | None) -> str | None:
    return None if value is None or value in ("", "-") else value


def int_or_none(raw: bytes | str | None) -> int | None:
    try:
        return None if raw is None else int(raw)
    except ValueError:
        return None


def iso_time(raw: str | None) -> datetime | None:
    """``2019-10-11T15:01:12.376735Z`` (nanoseconds cut to microseconds) -> aware datetime."""
    if not raw or raw == "-":
        return None
    s = raw.strip()
    m = re.match(r"([^.]*)(\.[0-9]+)?(.*)$", s)
    if m and m.group(2):
        s = m.group(1) + m.group(2)[:7] + m.group(3)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return parse_clf_time(raw.encode("utf-8", "replace"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def split_hostport(value: str | None) -> str | None:
    """``1.2.3.4:5678`` / ``[2001:db8::1]:443`` -> the address; a bare address stays as it is."""
    if not value or value == "-":
        return None
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def set_request(rec: Record, request: str | None, raw: bytes) -> None:
    """Fill the request line and its parts (the target as logged stays whole)."""
    if request is None:
        return
    rec.request = request
    rec.raw["target"] = raw
    rec.method, rec.target, rec.protocol = split_request(request)


def strip_absolute(rec: Record) -> None:
    """Load balancers log the absolute form ``GET http://host:80/path HTTP/1.1``: keep the
    path as the target (as the server behind it sees it) and the host as the logged host."""
    t = rec.target or ""
    m = re.match(r"(?i)(?:https?|wss?)://([^/?#\s]*)", t)
    if m is None:
        return
    rest = t[m.end() :] or "/"
    if rec.vhost is None:
        rec.vhost = host_only(m.group(1))
    rec.target = rest
    rec.request = " ".join(x for x in (rec.method, rest, rec.protocol) if x)


Builder = Callable[[Record, dict[str, bytes | None]], None]


class PatternFormat:
    """A format whose request lines match one regex with named groups; ``build`` turns the
    groups into a `Record`. ``meta`` matches the log's lines that are no request."""

    def __init__(
        self,
        name: str,
        line: bytes,
        build: Builder,
        *,
        meta: bytes = BLANK,
        unquoted_inspected: bool = False,
        markers: tuple[bytes, ...] = (),
        query_sep: bool = False,
        wrapped: bool = False,
    ):
        self.name = self.format = name
        self._line_rx = re.compile(line)
        self._meta_rx = re.compile(meta)
        self._build = build
        self.unquoted_inspected = unquoted_inspected
        self.markers = markers
        self.query_sep = query_sep
        self.wrapped = wrapped
        self.line_grammar = b"(?:" + plain(line) + b"|" + plain(meta) + (b"|" + JSON_LINE if wrapped else b"") + b")"
        self._json_rx = re.compile(JSON_LINE)
        self.grammar = b"(?:" + self.line_grammar + rb"\r?\n)*"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def __reduce__(self):  # rebuilt from its name in worker processes
        from . import compile_format

        return (compile_format, (self.name,))

    def match(self, line: bytes) -> bool:
        s = strip_eol(line)
        return (
            self._line_rx.fullmatch(s) is not None
            or self._meta_rx.fullmatch(s) is not None
            or (self.wrapped and self._json_rx.fullmatch(s) is not None)
        )

    def parse(self, line: bytes) -> Record | None:
        s = strip_eol(line)
        m = self._line_rx.fullmatch(s)
        if m is None:
            if self._meta_rx.fullmatch(s) is not None:
                return Record()
            if self.wrapped and self._json_rx.fullmatch(s) is not None:
                return self._unwrap(s)
            return None
        rec = Record()
        self._build(rec, m.groupdict())
        return rec

    def _unwrap(self, s: bytes) -> Record | None:
        """A line a container runtime or shipper wrapped in JSON (``{"log": "…"}``, ``{"message":
        "…"}``): the inner line, read with this format (`opaque` when there is none)."""
        try:
            doc = json.loads(s)
        except (ValueError, RecursionError):
            return opaque(s)
        inner = next(
            (doc[k] for k in ("message", "log") if isinstance(doc, dict) and isinstance(doc.get(k), str)), None
        )
        if inner is None:
            return opaque(s)
        inner_line = inner.rstrip("\r\n").encode("utf-8", "surrogateescape")
        m = self._line_rx.fullmatch(inner_line)
        if m is None:
            return Record() if self._meta_rx.fullmatch(inner_line) is not None else opaque(s)
        rec = Record()
        self._build(rec, m.groupdict())
        return rec


def text(raw: bytes | None, unescape: Callable[[bytes], str] = apache_unescape) -> str | None:
    return None if raw is None or raw == b"-" else unescape(raw)


def fill(rec: Record, g: dict[str, bytes | None], unescape: Callable[[bytes], str] = apache_unescape) -> None:
    """The common groups: client/peer (``host:port`` allowed), vhost, request, status, bytes,
    referer, user_agent, xff (kept as a header and as the proxy chain)."""
    rec.client = split_hostport(text(g.get("client")))
    vhost = text(g.get("vhost"))
    if vhost:
        rec.vhost = host_only(vhost)
    req = g.get("request")
    if req is not None and req.strip(b"- ") != b"":  # "-" or a balancer's TCP line "- - - "
        set_request(rec, unescape(req), req)
    rec.status = int_or_none(g.get("status"))
    rec.bytes = int_or_none(g.get("bytes"))
    for name in ("referer", "user_agent"):
        raw = g.get(name)
        v = text(raw, unescape)
        if v is not None:
            setattr(rec, name, v)
            rec.raw[name] = raw
    xff = g.get("xff")
    v = text(xff, unescape)
    if v is not None:
        rec.forwarded_for = v
        rec.headers["X-Forwarded-For"] = v
        rec.raw["X-Forwarded-For"] = xff


UNION = " || "


class UnionFormat:
    """A file that mixes formats (a vhost variant among plain lines, a format change at a
    rotation): each line is read with the first of the formats that parses it. The name joins
    the parts' names with ``" || "``."""

    def __init__(self, parts: list):
        self.parts = parts
        self.name = self.format = UNION.join(p.name for p in parts)
        self.unquoted_inspected = any(p.unquoted_inspected for p in parts)
        self.markers = tuple(dict.fromkeys(m for p in parts for m in p.markers))
        self.query_sep = any(p.query_sep for p in parts)
        self.line_grammar = b"(?:" + b"|".join(p.line_grammar for p in parts) + b")"
        self.grammar = b"(?:" + self.line_grammar + rb"\r?\n)*"

    def __repr__(self) -> str:
        return f"UnionFormat({self.name!r})"

    def __reduce__(self):
        from . import compile_format

        return (compile_format, (self.name,))

    def match(self, line: bytes) -> bool:
        return any(p.match(line) for p in self.parts)

    def parse(self, line: bytes) -> Record | None:
        for p in self.parts:
            rec = p.parse(line)
            if rec is not None:
                return rec
        return None
