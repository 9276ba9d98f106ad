"""Load balancers and proxies with a fixed line layout: AWS Application Load Balancer and
Classic ELB, HAProxy's HTTP log (behind a syslog prefix), Envoy's default access log.

Each is one `PatternFormat`; fields after the documented ones (newer ALB versions, Istio's
Envoy extension) are accepted as trailing tokens. Balancers log the absolute request form
(``GET http://host:80/path HTTP/1.1``): the target becomes the path and the host the logged
host (ALB's ``domain_name`` wins when present). HAProxy logs ``"``, ``#`` and non-printable
bytes as ``#XX``: they are decoded, and ``#XX`` is a prefilter marker for this format. Envoy does
not escape quotes inside its quoted fields, so a raw quote is a marker there (as for any
format with an unquoted inspected field).
"""

from __future__ import annotations

import re

from .base import ISO_TIME, NUM, PatternFormat, fill, iso_time, strip_absolute
from .logformat import QUOTED, WORD, Record, parse_clf_time

# trailing fields: quoted (what sticks to the closing quote with it: AWS's own sample has
# "-"1), or a word that does not start with a quote: one way to split a line
_TAIL = rb'(?: (?:"' + QUOTED + rb'"[^ \r\n]*|[^ "\r\n][^ \r\n]*))*'


def _timed(key: str, parse):
    def build(rec: Record, g: dict) -> None:
        fill(rec, g)
        raw = g.get(key)
        rec.time = parse(raw.decode("ascii", "replace")) if raw else None
        strip_absolute(rec)

    return build


def layout(template: str) -> bytes:
    """A line regex from a readable template: ``@W@`` a word, ``@N@`` a number or ``-``,
    ``@Q@`` a quoted field's content, ``@ISO@`` an ISO 8601 time, ``@TAIL@`` trailing fields."""
    out = template.encode()
    for key, rx in ((b"@W@", WORD), (b"@N@", NUM), (b"@Q@", QUOTED), (b"@ISO@", ISO_TIME), (b"@TAIL@", _TAIL)):
        out = out.replace(key, rx)
    return out


# client:port backend:port 3 timings, status, backend status, received, sent, request, agent,
# TLS cipher and protocol: the fields ELB and ALB share
_ELB_FIELDS = (
    '(?P<client>@W@) @W@ @N@ @N@ @N@ (?P<status>@N@) @N@ @N@ (?P<bytes>@N@) "(?P<request>@Q@)" '
    '"(?P<user_agent>@Q@)" @W@ @W@'
)
ALB = layout(
    "(?:https?|h2|grpcs?|wss?) (?P<time>@ISO@) @W@ "
    + _ELB_FIELDS
    + '(?: @W@(?: "@Q@"(?: "(?P<vhost>@Q@)"@TAIL@)?)?)?'  # target group, trace id, domain, newer fields
)
ELB = layout("(?P<time>@ISO@) @W@ " + _ELB_FIELDS)
# A comment or blank line (the published samples carry both); never a request line.
_COMMENT = rb"(?:#[^\n]*|[ \t]*\r?)"

_SYSLOG = (
    rb"(?:<[0-9]{1,3}>)?(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}|" + ISO_TIME + rb") "
    rb"[^ \n]+ [^ \n\[:]+(?:\[[0-9]+\])?: "
)
HAPROXY = (
    _SYSLOG + rb"(?P<client>[^ \n]+):[0-9]+ \[(?P<time>[^\]\n]+)\] [^ \n]+ [^ \n]+ [-0-9/+]+ (?P<status>-?[0-9]+) "
    rb"\+?(?P<bytes>[0-9]+) [^ \n]+ [^ \n]+ [^ \n]+ [-0-9/+]+ [-0-9/+]+(?: \{(?P<captured>[^}\n]*)\})?"
    rb'(?: \{[^}\n]*\})? "(?P<request>[^"\n]*)"'
)
# HAProxy's own messages (start-up, SSL handshake failures): no quote, so no request line.
_HAPROXY_META = rb"(?:" + _SYSLOG + rb'[^"\n]*|[ \t]*\r?)'
_HASH = re.compile(rb"#([0-9A-Fa-f]{2})")


def haproxy_unescape(raw: bytes) -> str:
    if b"#" in raw:
        raw = _HASH.sub(lambda m: bytes((int(m.group(1), 16),)), raw)
    return raw.decode("utf-8", "backslashreplace")


def _haproxy(rec: Record, g: dict) -> None:
    fill(rec, g, haproxy_unescape)
    rec.time = parse_clf_time(g["time"])
    cap = g.get("captured")
    if cap:
        rec.headers["captured request headers"] = haproxy_unescape(cap)
        rec.raw["captured request headers"] = cap
    strip_absolute(rec)


ENVOY = layout(
    '(?:ACCESS )?\\[(?P<time>@ISO@)\\] "(?P<request>@Q@)" (?P<status>@N@) @W@(?: "@Q@")? @N@ (?P<bytes>@N@) @N@ @N@ '
    '"(?P<xff>@Q@)" "(?P<user_agent>@Q@)" "@Q@" "(?P<vhost>@Q@)" "@Q@"@TAIL@'
)

BUILDERS = {
    "alb": lambda: PatternFormat("alb", ALB, _timed("time", iso_time), meta=_COMMENT),
    "elb": lambda: PatternFormat("elb", ELB, _timed("time", iso_time), meta=_COMMENT),
    "haproxy": lambda: PatternFormat(
        "haproxy", HAPROXY, _haproxy, meta=_HAPROXY_META, markers=(rb"#[0-9a-f]{2}",), wrapped=True
    ),
    "envoy": lambda: PatternFormat("envoy", ENVOY, _timed("time", iso_time), unquoted_inspected=True, wrapped=True),
}
_CACHE: dict[str, PatternFormat] = {}


def compile_spec(spec: str) -> PatternFormat | None:
    if spec not in BUILDERS:
        return None
    if spec not in _CACHE:
        _CACHE[spec] = BUILDERS[spec]()
    return _CACHE[spec]


def detect(sample: list[bytes]) -> tuple[PatternFormat | None, int]:
    """The format that parses the most sample lines that are requests (meta lines alone,
    blank or comment, prove nothing)."""
    best, best_count = None, 0
    for name in BUILDERS:
        fmt = compile_spec(name)
        requests = [ln for ln in sample if fmt.match(ln) and (fmt.parse(ln) or Record()).request is not None]
        if not requests:
            continue
        count = sum(1 for ln in sample if fmt.match(ln))
        if count > best_count:
            best, best_count = fmt, count
    return best, best_count
