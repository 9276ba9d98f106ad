"""JSON-lines access logs: nginx ``escape=json`` (and default-escaped) formats, Apache JSON
LogFormats, Caddy's structured access log, Traefik's JSON access log, and Elastic Common Schema
documents.

One field mapping covers the common key names (`KEYS`; nested objects are read as dotted keys,
``{"url": {"original": …}}`` is ``url.original``, and keys compare case-insensitively); the spec
``json:KEY=NAME,…`` overrides it (``json:client=remote,uri=req_path``). Every request header a
log keeps (Caddy ``request.headers.*``, Traefik ``request_*``, ECS ``http.request.headers.*``)
is inspected as well. A line that is a JSON object but no request (another logger's message)
is a record with nothing to inspect.

The chunk grammar accepts a line that is one ``{…}`` with its strings closed; a line it accepts
that ``json`` still refuses is a record scanned whole (`dropscan.formats.base.opaque`). nginx's
default escaping (``\\x22``) is not JSON: it is read as the bytes it stands for.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from ..errors import UsageError
from .base import JSON_LINE, dash_none, int_or_none, iso_time, opaque, plain, split_hostport
from .logformat import Record, host_only, parse_clf_time, split_request

# Record field -> candidate keys (lower case, dotted), first present wins.
KEYS: dict[str, tuple[str, ...]] = {
    "client": (
        "request.remote_ip",
        "remote_addr",
        "remote_ip",
        "clienthost",
        "clientaddr",
        "source.ip",
        "source.address",
        "client.ip",
        "client.address",
        "ip",
        "client_ip",
        "clientip",
        "remoteip",
        "request.client_ip",
        "remote_host",
        "remotehost",
        "c-ip",
    ),
    "xff": (
        "http_x_forwarded_for",
        "x_forwarded_for",
        "xff",
        "forwarded_for",
        "request.headers.x-forwarded-for",
        "request_x-forwarded-for",
        "http.request.headers.x-forwarded-for",
        "headers.x-forwarded-for",
    ),
    "time": ("time_iso8601", "time_local", "@timestamp", "timestamp", "time", "ts", "startutc", "start_time", "date"),
    "request": ("request", "request_line", "requestline"),
    "method": ("request.method", "request_method", "method", "requestmethod", "http.request.method"),
    "uri": ("request.uri", "request_uri", "uri", "requestpath", "url.original", "path", "url", "url.path"),
    "query": ("url.query", "query_string", "args", "query"),
    "protocol": ("request.proto", "server_protocol", "protocol", "requestprotocol", "proto", "http.version"),
    "status": ("status", "downstreamstatus", "http.response.status_code", "status_code", "originstatus"),
    "bytes": ("body_bytes_sent", "bytes_sent", "size", "downstreamcontentsize", "http.response.body.bytes", "bytes"),
    "user_agent": (
        "http_user_agent",
        "user_agent",
        "user_agent.original",
        "useragent",
        "agent",
        "request.headers.user-agent",
        "request_user-agent",
        "http.request.headers.user-agent",
    ),
    "referer": (
        "http_referer",
        "referer",
        "referrer",
        "request.headers.referer",
        "request_referer",
        "http.request.referrer",
    ),
    "host": ("host", "http_host", "server_name", "vhost", "request.host", "requesthost", "url.domain", "requestaddr"),
}
HEADER_PREFIXES = ("request.headers.", "request_", "http.request.headers.", "headers.")
FLAVOURS = ("caddy", "traefik", "ecs", "nginx")

LINE = JSON_LINE
_BLANK = rb"[ \t]*\r?"
_XESC = re.compile(rb"(?<!\\)((?:\\\\)*)\\x([0-9A-Fa-f]{2})")


def _flatten(obj: dict, prefix: str, out: dict[str, object]) -> None:
    for k, v in obj.items():
        key = prefix + str(k).lower()
        if isinstance(v, dict):
            _flatten(v, key + ".", out)
        else:
            out[key] = v


def _text(v: object, latin: bool) -> str | None:
    if v is None:
        return None
    if isinstance(v, list):
        v = ", ".join(str(x) for x in v if x is not None)
    s = v if isinstance(v, str) else str(v)
    if latin and any("\x80" <= c <= "\xff" for c in s) and all(c <= "\xff" for c in s):
        s = s.encode("latin-1").decode("utf-8", "backslashreplace")  # nginx's \xHH are bytes
    return dash_none(s)


def _time(v: object) -> datetime | None:
    if isinstance(v, int | float) and not isinstance(v, bool):
        try:
            return datetime.fromtimestamp(v, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(v, str):
        if v[:1].isdigit() and "/" in v[:6]:
            return parse_clf_time(v.encode("ascii", "replace"))
        return iso_time(v)
    return None


class JsonFormat:
    """A JSON-lines access log (see the module docstring)."""

    unquoted_inspected = False
    markers: tuple[bytes, ...] = ()
    query_sep = False

    def __init__(self, spec: str = "json"):
        self.name = self.format = spec
        self.keys = {k: list(v) for k, v in KEYS.items()}
        _, _, opts = spec.partition(":")
        for item in filter(None, (x.strip() for x in opts.split(","))):
            field, eq, key = item.partition("=")
            if not eq:
                if item not in FLAVOURS:
                    raise UsageError(f"json log format: unknown flavour {item!r} (one of {', '.join(FLAVOURS)})")
                continue
            if field not in self.keys:
                raise UsageError(f"json log format: unknown field {field!r} (one of {', '.join(self.keys)})")
            self.keys[field].insert(0, key.strip().lower())
        self.line_grammar = b"(?:" + LINE + b"|" + _BLANK + b")"
        self.grammar = b"(?:" + self.line_grammar + rb"\r?\n)*"
        self._line_rx = re.compile(plain(LINE))
        self._blank_rx = re.compile(_BLANK)
        self._mapped = {k for keys in self.keys.values() for k in keys}

    def __repr__(self) -> str:
        return f"JsonFormat({self.name!r})"

    def __reduce__(self):
        return (JsonFormat, (self.name,))

    def match(self, line: bytes) -> bool:
        s = line.rstrip(b"\n")
        return self._line_rx.fullmatch(s) is not None or self._blank_rx.fullmatch(s) is not None

    def load(self, line: bytes) -> tuple[dict | None, bool]:
        """(the parsed object or None, whether nginx's ``\\xHH`` escapes were read)."""
        s = line.strip()
        latin = b"\\x" in s
        if latin:
            s = _XESC.sub(rb"\1\\u00\2", s)
        try:
            doc = json.loads(s)
        except (ValueError, RecursionError):
            return None, latin
        return (doc if isinstance(doc, dict) else None), latin

    def parse(self, line: bytes) -> Record | None:
        s = line.rstrip(b"\r\n")
        if self._blank_rx.fullmatch(s):
            return Record()
        if self._line_rx.fullmatch(s) is None:
            return None
        doc, latin = self.load(s)
        if doc is None:
            return opaque(s)
        flat: dict[str, object] = {}
        _flatten(doc, "", flat)
        return self.record(flat, latin)

    def _get(self, flat: dict[str, object], field: str) -> object:
        for k in self.keys[field]:
            if k in flat and flat[k] not in (None, ""):
                return flat[k]
        return None

    def record(self, flat: dict[str, object], latin: bool) -> Record:
        rec = Record()

        def t(field: str) -> str | None:
            return _text(self._get(flat, field), latin)

        rec.client = split_hostport(t("client"))
        rec.time = _time(self._get(flat, "time"))
        host = t("host")
        rec.vhost = host_only(host) if host else None
        rec.status = int_or_none(t("status"))
        rec.bytes = int_or_none(t("bytes"))
        request = t("request")
        if request is not None and " " not in request and t("method"):
            request = None  # Apache JSON LogFormats log "request": "%U" (the path) beside the method
        if request is None:
            method, uri, proto = t("method"), t("uri") or t("request"), t("protocol")
            query = t("query")
            if uri is not None and query and "?" not in uri:
                uri += "?" + query.removeprefix("?")
            if uri is not None or method is not None:
                request = " ".join(x for x in (method, uri, proto) if x)
        if request is not None:
            rec.request = request
            rec.raw["target"] = request.encode("utf-8", "replace")
            rec.method, rec.target, rec.protocol = split_request(request)
        for field in ("user_agent", "referer"):
            v = t(field)
            if v is not None:
                setattr(rec, field, v)
                rec.raw[field] = v.encode("utf-8", "replace")
        xff = t("xff")
        if xff is not None:
            rec.forwarded_for = xff
        for key, value in flat.items():
            if key in self._mapped and key not in self.keys["xff"]:
                continue
            prefix = next((p for p in HEADER_PREFIXES if key.startswith(p)), None)
            if prefix is None:
                continue
            v = _text(value, latin)
            if v is not None:
                name = key[len(prefix) :]
                rec.headers[name] = v
                rec.raw[name] = v.encode("utf-8", "replace")
        if xff is not None and not any(k.lower() == "x-forwarded-for" for k in rec.headers):
            rec.headers["X-Forwarded-For"] = xff
            rec.raw["X-Forwarded-For"] = xff.encode("utf-8", "replace")
        return rec


def flavour(doc: dict) -> str | None:
    """Which documented JSON access log a parsed line looks like."""
    keys = {k.lower() for k in doc}
    if "request" in keys and isinstance(doc.get("request"), dict) and "logger" in keys:
        return "caddy"
    if keys & {"requestmethod", "clienthost", "downstreamstatus"}:
        return "traefik"
    if isinstance(doc.get("url"), dict) or "url.original" in keys or "@timestamp" in keys:
        return "ecs"
    if keys & {"remote_addr", "time_local", "request_uri", "http_user_agent", "body_bytes_sent"}:
        return "nginx"
    return None


def detect(sample: list[bytes]) -> tuple[JsonFormat | None, int]:
    """``json`` (named by flavour when one is recognised) if sample lines are JSON objects
    holding a request, and how many lines it parses."""
    fmt = JsonFormat()
    count, flavours = 0, {}
    for ln in sample:
        rec = fmt.parse(ln)
        if rec is None:
            continue
        count += 1
        if rec.request is not None:
            doc, _ = fmt.load(ln)
            f = flavour(doc) if doc else None
            flavours[f] = flavours.get(f, 0) + 1
    if not count or not any(flavours.values()):
        return None, 0
    best = max(flavours, key=lambda k: (flavours[k], k is not None))
    return (JsonFormat(f"json:{best}") if best else fmt), count
