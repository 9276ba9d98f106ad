"""W3C extended logs: Microsoft IIS (space-separated) and Amazon CloudFront (tab-separated).

The ``#Fields:`` directive names the columns. The format is named by its field lists, so that
it compiles again from its name: ``w3c:date time s-ip cs-method …`` (several lists separated by
``|`` when a file's header changes, e.g. after an IIS upgrade; a data line takes the list with
its number of fields), ``cloudfront:…`` likewise. ``w3c`` and ``cloudfront`` alone use the
default field lists. Directive lines (``#…``) and blank lines are records with nothing to
inspect.

Decoding: IIS writes spaces in the user agent and cookie as ``+``; CloudFront percent-encodes
the user agent, referer and cookie once more (``%2520`` for a space the client sent as
``%20``): both are undone, so the text matches what Apache would have logged. The request is
``cs-method cs-uri-stem?cs-uri-query cs-version``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

from .base import dash_none, int_or_none, set_request, split_hostport
from .logformat import Record, host_only, strip_eol

IIS_DEFAULT = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) "
    "sc-status sc-substatus sc-win32-status time-taken"
)
CLOUDFRONT_DEFAULT = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) "
    "cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol "
    "cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type "
    "cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type "
    "sc-content-type sc-content-len sc-range-start sc-range-end"
)
_TOKENS = {
    # a value with spaces is quoted; a value that starts with a quote must close it, so that
    # a line splits into values one way only (no backtracking over the ways)
    "w3c": (rb'(?:"[^"\n]*"|[^ "\r\n][^ \r\n]*)', b" "),
    "cloudfront": (rb"[^\t\r\n]*", b"\t"),
}
_META = rb"(?:#[^\n]*|[ \t]*\r?)"
SHORTER_BY = 8  # how many trailing fields a data line may lack
_FIELDS = re.compile(rb"#Fields:[ \t]*([^\r\n]*)")
_FIELD_NAME = re.compile(r"[A-Za-z0-9()_.-]{1,64}")


def _iis_text(v: str) -> str:
    return v.replace("+", " ")


def _cf_text(v: str) -> str:
    return unquote_to_bytes(v).decode("utf-8", "backslashreplace")


class W3CFormat:
    """A W3C extended log with known ``#Fields`` lists (see the module docstring)."""

    unquoted_inspected = False
    markers: tuple[bytes, ...] = ()
    query_sep = True  # cs-uri-stem and cs-uri-query are two fields, joined with "?"

    def __init__(self, spec: str):
        kind, _, lists = spec.partition(":")
        self.kind = kind
        self.name = self.format = spec
        default = IIS_DEFAULT if kind == "w3c" else CLOUDFRONT_DEFAULT
        self.fields: dict[int, list[str]] = {}
        for fl in (lists or default).split("|"):
            names = fl.split()
            self.fields.setdefault(len(names), names)
        token, sep = _TOKENS[kind]
        self._token = re.compile(token)
        self._sep = sep
        # a line may stop short of its field list (CloudFront added fields over the years, and
        # its samples carry lines without the newest ones): it takes the shortest list it fits
        shortest, longest = min(self.fields), max(self.fields)
        least = max(2, shortest - SHORTER_BY)
        data = b"%s(?:%s%s){%d,%d}" % (token, sep, token, least - 1, longest - 1)
        self.line_grammar = b"(?:" + data + b"|" + _META + b")"
        self.grammar = b"(?:" + self.line_grammar + rb"\r?\n)*"
        self._line_rx = re.compile(self.line_grammar)
        self._decode = _iis_text if kind == "w3c" else _cf_text

    def __repr__(self) -> str:
        return f"W3CFormat({self.name!r})"

    def __reduce__(self):
        return (W3CFormat, (self.name,))

    def match(self, line: bytes) -> bool:
        return self._line_rx.fullmatch(strip_eol(line)) is not None

    def parse(self, line: bytes) -> Record | None:
        s = strip_eol(line)
        if self._line_rx.fullmatch(s) is None:
            return None
        if s.startswith(b"#") or not s.strip():
            return Record()
        values = s.split(self._sep) if self._sep == b"\t" else self._token.findall(s)
        n = len(values)
        names = self.fields.get(n) or self.fields[min((k for k in self.fields if k >= n), default=max(self.fields))]
        return self.record(dict(zip(names, values, strict=False)))

    def record(self, row: dict[str, bytes]) -> Record:
        rec = Record()

        def t(name: str) -> str | None:
            raw = row.get(name)
            if raw is None:
                return None
            if self.kind == "w3c" and len(raw) > 1 and raw[:1] == raw[-1:] == b'"':
                raw = raw[1:-1]  # IIS quotes a value that holds spaces
            return dash_none(raw.decode("utf-8", "backslashreplace"))

        date, time = t("date"), t("time")
        if date and time:
            try:
                rec.time = datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=UTC)
            except ValueError:
                rec.time = None
        rec.client = split_hostport(t("c-ip"))
        host = t("x-host-header") or t("cs-host") or t("cs(Host)") or t("s-sitename")
        rec.vhost = host_only(host) if host else None
        rec.status = int_or_none(t("sc-status"))
        rec.bytes = int_or_none(t("sc-bytes"))
        stem, query = t("cs-uri-stem"), t("cs-uri-query")
        if stem is not None or t("cs-method"):
            target = (stem or "") + (f"?{query}" if query else "")
            request = " ".join(x for x in (t("cs-method"), target, t("cs-version") or t("cs-protocol-version")) if x)
            raw = row.get("cs-uri-stem", b"") + (b"?" + row["cs-uri-query"] if query else b"")
            set_request(rec, request, raw)
        for name, attr in (("cs(User-Agent)", "user_agent"), ("cs(Referer)", "referer"), ("cs(Cookie)", "Cookie")):
            v = t(name)
            if v is None:
                continue
            v = self._decode(v)
            if attr == "Cookie":
                rec.headers[attr] = v
            else:
                setattr(rec, attr, v)
            rec.raw[attr] = row[name]
        xff = t("x-forwarded-for")
        if xff:
            rec.forwarded_for = self._decode(xff)
            rec.headers["X-Forwarded-For"] = rec.forwarded_for
            rec.raw["X-Forwarded-For"] = row["x-forwarded-for"]
        return rec


def compile_spec(spec: str) -> W3CFormat | None:
    kind = spec.partition(":")[0]
    return W3CFormat(spec) if kind in _TOKENS else None


def detect(sample: list[bytes]) -> tuple[W3CFormat | None, int]:
    """A W3C log announces itself: the ``#Fields:`` lines of the sample name its columns."""
    lists: list[str] = []
    for ln in sample:
        m = _FIELDS.match(ln)
        if m:
            # field names as W3C writes them; anything else (a hostile header) is left out, so
            # the name stays a spec that compiles again
            fl = " ".join(n for n in m.group(1).decode("ascii", "replace").split() if _FIELD_NAME.fullmatch(n))
            if fl and fl not in lists:
                lists.append(fl)
    if not lists:
        return None, 0
    cloudfront = any("x-edge-" in fl for fl in lists)  # CloudFront's own fields
    fmt = W3CFormat(("cloudfront:" if cloudfront else "w3c:") + "|".join(lists))
    return fmt, sum(1 for ln in sample if fmt.match(ln))
