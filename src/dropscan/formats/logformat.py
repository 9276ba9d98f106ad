"""Apache LogFormat strings compiled into record parsers.

One token list drives two views of the same grammar, so they can never disagree:

* ``LogFormat.parse(line)`` matches one line with named groups and builds a `Record`;
* ``LogFormat.grammar`` is the same expression as a chunk-level regex
  ``(?:LINE\\r?\\n)*`` that the fast path runs over megabytes at once (hyperscan when
  installed) to prove every line of a chunk is a record without touching them one by one.

Why not apachelogs as the parser: its fields are lazy ``(?:...)*?`` alternations that cost
~60 µs a line, reject raw non-ASCII bytes that other servers write, and cannot be handed to a
chunk-level engine. apachelogs stays in the test suite as the oracle this parser is checked
against, line by line, on every fixture it accepts.

The grammar is deliberately lenient where attack lines are ugly: quoted fields accept any byte
except an unescaped quote (raw spaces, missing ``HTTP/x.y``, ``\\"``, ``\\xhh``, non-UTF-8),
and ``%t`` accepts any bracketed text (an unparseable time becomes ``None``, the line is still
a record). Apache's escaping is undone before any decoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Protocol

from ..errors import UsageError

# --- regex fragments (bytes) ---------------------------------------------------------------
# A field inside double quotes: anything but an unescaped quote; backslash escapes any byte.
QUOTED = rb'[^"\\\n]*(?:\\[^\n][^"\\\n]*)*'
# A field outside quotes: no space and no line break.
WORD = rb"[^ \r\n]+"
WORD_LIST = rb"[^ \r\n]*[^ ,\r\n](?:, [^ \r\n]*[^ ,\r\n])*"  # items never end with ",": one way to split
NUMBER = rb"(?:[0-9]+|-)"
SIGNED = rb"(?:-?[0-9]+|-)"
STATUS = rb"(?:[0-9]{3}|-)"
BRACKETED = rb"\[[^\]\r\n]*\]"

PRESETS: dict[str, str] = {
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "combined": '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "vhost_common": '%v %h %l %u %t "%r" %>s %b',
    "common": '%h %l %u %t "%r" %>s %b',
}
# Auto-detection tries the most specific presets first; ties go to the earlier one.
DETECT_ORDER = ("vhost_combined", "combined", "vhost_common", "common")

_DIRECTIVE = re.compile(
    r"%(?:[<>]|!?[0-9]{3}(?:,[0-9]{3})*)*(?:\{(?P<param>[^}]*)\})?(?:[<>])?(?P<code>\^t[io]|[a-zA-Z%])"
)

_MONTHS = {
    m: i
    for i, m in enumerate(
        (b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"), 1
    )
}


@dataclass(slots=True)
class Record:
    """One access-log entry. Strings are Apache-unescaped and decoded as UTF-8
    (undecodable bytes appear as ``\\xhh``); ``None`` where the format has no such field
    or Apache logged ``-``."""

    vhost: str | None = None
    server_port: int | None = None
    client: str | None = None  # the connecting peer as logged (%h / %a, a balancer's client field)
    #: a proxy chain as logged (X-Forwarded-For: ``client, proxy1, proxy2``), for client attribution
    forwarded_for: str | None = None
    time: datetime | None = None
    request: str | None = None
    method: str | None = None
    target: str | None = None
    protocol: str | None = None
    status: int | None = None
    bytes: int | None = None
    referer: str | None = None
    user_agent: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: the inspected fields as logged (Apache-escaped bytes), for the per-field prefilter
    raw: dict[str, bytes] = field(default_factory=dict)

    def inspected_fields(self) -> list[tuple[str, str, bytes]]:
        """The attacker-controlled text of this record: (field name, text, bytes as logged).
        For the target, the bytes are the whole request line (a superset of the target)."""
        out: list[tuple[str, str, bytes]] = []
        if self.target:
            out.append(("target", self.target, self.raw.get("target", b"")))
        if self.user_agent:
            out.append(("user_agent", self.user_agent, self.raw.get("user_agent", b"")))
        if self.referer:
            out.append(("referer", self.referer, self.raw.get("referer", b"")))
        for name, value in self.headers.items():
            if value:
                out.append((name, value, self.raw.get(name, b"")))
        return out


class Format(Protocol):
    """What the scanner needs of a log format (implemented by `LogFormat` and by the families
    of `dropscan.formats`): a name that compiles again, the chunk grammar, a parser that agrees
    with it, and what the prefilter must add to stay sound for it."""

    name: str
    format: str  # key of the compiled grammar
    grammar: bytes  # (?:LINE\r?\n)* over a chunk
    line_grammar: bytes
    unquoted_inspected: bool  # a raw double quote may sit inside an inspected field
    markers: tuple[bytes, ...]  # prefilter markers for escapes the parser undoes
    query_sep: bool  # path and query are two fields the parser joins with "?"

    def parse(self, line: bytes) -> Record | None: ...

    def match(self, line: bytes) -> bool: ...


# --- Apache unescaping -----------------------------------------------------------------
# Only the escapes mod_log_config writes (ap_escape_logitem); any other backslash stays as it
# is, so unescaping can never manufacture text the prefilter did not see (see prefilter.py).
_UNESC = re.compile(rb"\\(x[0-9A-Fa-f]{2}|[\\\"tnrbvf])")
_UNESC_MAP = {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"b": b"\b", b"v": b"\v", b"f": b"\f"}


def _unesc(m: re.Match[bytes]) -> bytes:
    esc = m.group(1)
    if len(esc) == 3:
        return bytes((int(esc[1:], 16),))
    return _UNESC_MAP.get(esc, esc)


# A backslash that starts no escape of that list (after an even run of backslashes, so it is
# not itself escaped), or ends the field. Where there is none, Python's unicode_escape codec
# reads exactly the same escapes, in C: a field of a million escapes costs milliseconds
# instead of seconds of per-match callbacks.
_OTHER_BACKSLASH = re.compile(rb'(?<!\\)(?:\\\\)*\\(?:[^x\\"tnrbvf]|x(?![0-9A-Fa-f]{2})|\Z)')


def apache_unescape(raw: bytes) -> str:
    """Undo mod_log_config's escaping (``\\"``, ``\\\\``, ``\\xhh``, ``\\t`` …) and decode."""
    if b"\\" in raw:
        if _OTHER_BACKSLASH.search(raw) is None:
            raw = raw.decode("unicode_escape").encode("latin-1")
        else:
            raw = _UNESC.sub(_unesc, raw)
    return raw.decode("utf-8", "backslashreplace")


# --- time -------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _tz(sign: int, hh: int, mm: int) -> timezone:
    return UTC if hh == mm == 0 else timezone(sign * timedelta(hours=hh, minutes=mm))


def parse_clf_time(raw: bytes) -> datetime | None:
    """``[10/Oct/2000:13:55:36 -0700]`` -> aware datetime; ``None`` when it is not one."""
    s = raw.strip(b"[]")
    try:
        day, mon, rest = s.split(b"/", 2)
        year, hh, mi, ss_tz = rest.split(b":", 3)
        ss, tzs = ss_tz.split(b" ", 1) if b" " in ss_tz else (ss_tz, b"+0000")
        frac = 0
        if b"." in ss:
            ss, f = ss.split(b".", 1)
            frac = int((f + b"000000")[:6])
        sign = -1 if tzs[:1] == b"-" else 1
        tzd = tzs.lstrip(b"+-")
        if len(tzd) != 4 or not tzd.isdigit():
            return None
        return datetime(
            int(year),
            _MONTHS[mon.lower()],
            int(day),
            int(hh),
            int(mi),
            int(ss),
            frac,
            tzinfo=_tz(sign, int(tzd[:2]), int(tzd[2:])),
        )
    except (ValueError, KeyError):
        return None


# strftime conversions accepted inside %{...}t, with the regex of their output.
_STRF = {
    "Y": rb"[0-9]{4}",
    "y": rb"[0-9]{2}",
    "m": rb"[0-9]{1,2}",
    "d": rb"[0-9]{1,2}",
    "e": rb" ?[0-9]{1,2}",
    "H": rb"[0-9]{1,2}",
    "I": rb"[0-9]{1,2}",
    "M": rb"[0-9]{1,2}",
    "S": rb"[0-9]{1,2}",
    "j": rb"[0-9]{1,3}",
    "b": rb"[A-Za-z]{3}",
    "h": rb"[A-Za-z]{3}",
    "B": rb"[A-Za-z]+",
    "a": rb"[A-Za-z]{3}",
    "A": rb"[A-Za-z]+",
    "p": rb"[AaPp][Mm]",
    "z": rb"[+-][0-9]{4}",
    "Z": rb"[A-Za-z]+",
    "T": rb"[0-9]{2}:[0-9]{2}:[0-9]{2}",
    "F": rb"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "D": rb"[0-9]{2}/[0-9]{2}/[0-9]{2}",
    "s": rb"[0-9]+",
    "%": rb"%",
}
_TIME_KEYWORDS = {
    "sec": rb"[0-9]+",
    "msec": rb"[0-9]+",
    "usec": rb"[0-9]+",
    "msec_frac": rb"[0-9]{3}",
    "usec_frac": rb"[0-9]{6}",
    # not Apache's: nginx's $time_iso8601 (2026-11-27T07:02:11+01:00), see dropscan.formats.nginx
    "iso8601": rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-][0-9]{2}:[0-9]{2})",
}


def _strftime_regex(fmt: str) -> bytes:
    out = b""
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            conv = fmt[i + 1]
            if conv not in _STRF:
                raise UsageError(f"unsupported strftime conversion %{conv} in %{{{fmt}}}t")
            out += _STRF[conv]
            i += 2
        else:
            out += re.escape(ch.encode("latin-1", "replace"))
            i += 1
    return out


def _assemble_time(parts: list[tuple[str, bytes]]) -> datetime | None:
    """Combine one or more ``%{...}t`` values into a datetime (naive values are taken as UTC)."""
    fmt, text, micro, epoch = "", "", None, None
    for spec, raw in parts:
        value = raw.decode("ascii", "replace")
        key = spec.split(":", 1)[1] if spec.startswith(("begin:", "end:")) else spec
        if key == "":  # plain %t inside a multi-part format
            return parse_clf_time(raw)
        if key == "iso8601":
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                return None
        if key in ("sec", "msec", "usec"):
            scale = {"sec": 1, "msec": 1_000, "usec": 1_000_000}[key]
            epoch = int(value) / scale
        elif key in ("msec_frac", "usec_frac"):
            micro = int(value) * (1000 if key == "msec_frac" else 1)
        else:
            fmt += key + "\x00"
            text += value + "\x00"
    try:
        if epoch is not None:
            dt = datetime.fromtimestamp(epoch, tz=UTC)
        else:
            dt = datetime.strptime(text, fmt)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
        if micro is not None:
            dt = dt.replace(microsecond=micro)
        return dt
    except (ValueError, OverflowError, OSError):
        return None


# --- the compiler ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Field:
    directive: str  # e.g. "%h", "%{User-Agent}i"
    code: str
    param: str | None
    quoted: bool


def _field_regex(f: _Field) -> bytes:
    c = f.code
    if c == "t":
        if f.param is None:
            return BRACKETED
        spec = f.param.split(":", 1)[1] if f.param.startswith(("begin:", "end:")) else f.param
        return _TIME_KEYWORDS.get(spec) or _strftime_regex(spec)
    if c == "s":
        return STATUS
    if c in "bBOISpkP":
        return NUMBER
    if c in "DT":
        return SIGNED
    if c == "n" and not f.quoted:
        return WORD_LIST  # a note may be a value list, as nginx logs $upstream_addr
    return QUOTED if f.quoted else WORD


class LogFormat:
    """A compiled Apache LogFormat. Instances are immutable and cheap to share."""

    def __init__(self, fmt: str, name: str | None = None):
        self.format = fmt
        self.name = name or fmt
        self.fields: list[_Field] = []
        pieces: list[bytes] = []
        plain: list[bytes] = []
        text = fmt.replace('\\"', '"').replace("\\t", "\t")
        pos = 0
        for m in _DIRECTIVE.finditer(text):
            literal = text[pos : m.start()]
            pieces.append(re.escape(literal.encode()))
            plain.append(re.escape(literal.encode()))
            pos = m.end()
            code = m.group("code")
            if code == "%":
                pieces.append(b"%")
                plain.append(b"%")
                continue
            if code not in _KNOWN_CODES:
                raise UsageError(f"unknown LogFormat directive %{code} in {fmt!r}")
            quoted = text[m.start() - 1 : m.start()] == '"' and text[m.end() : m.end() + 1] == '"'
            f = _Field(m.group(0), code, m.group("param"), quoted)
            rx = _field_regex(f)
            pieces.append(b"(?P<f%d>%s)" % (len(self.fields), rx))
            plain.append(b"(?:%s)" % rx)
            self.fields.append(f)
        tail = text[pos:]
        if "%" in tail:
            raise UsageError(f"malformed LogFormat directive near {tail!r} in {fmt!r}")
        pieces.append(re.escape(tail.encode()))
        plain.append(re.escape(tail.encode()))
        if not self.fields:
            raise UsageError(f"LogFormat {fmt!r} has no directives")
        #: whether an inspected field (request, header, cookie) is written without quotes, so
        #: that a raw double quote can sit inside it (see prefilter.RAW_QUOTE_MARKER)
        self.unquoted_inspected = any(not f.quoted and f.code in "rUqiC" for f in self.fields)
        #: prefilter markers of escapes this parser undoes beyond Apache's (none: a backslash is one)
        self.markers: tuple[bytes, ...] = ()
        self.query_sep = False  # path and query are never two fields joined by the parser
        #: the grammar of one line, without line terminator and without groups
        self.line_grammar = b"".join(plain)
        #: a chunk of complete lines: every line of the chunk must be a record
        self.grammar = b"(?:" + self.line_grammar + rb"\r?\n)*"
        self._line_rx = re.compile(b"".join(pieces))
        self._builders = self._plan()

    def __repr__(self) -> str:
        return f"LogFormat({self.name!r})"

    def __reduce__(self):  # compiled regexes are rebuilt in worker processes
        return (LogFormat, (self.format, self.name))

    # Each field gets a small function that stores its converted value on the Record.
    def _plan(self) -> list[Callable[[Record, bytes, dict], None]]:
        builders = []
        directives = {f.code for f in self.fields}
        final_status = any(f.code == "s" and ">" in f.directive for f in self.fields)
        for f in self.fields:
            builders.append(_builder(f, directives, final_status))
        return builders

    def match(self, line: bytes) -> bool:
        """Whether ``line`` (with or without its line terminator) is a record."""
        return self._line_rx.fullmatch(strip_eol(line)) is not None

    def parse(self, line: bytes) -> Record | None:
        """Parse one line (terminator optional). ``None`` when it is not a record."""
        m = self._line_rx.fullmatch(strip_eol(line))
        if m is None:
            return None
        rec = Record()
        scratch: dict = {}
        for build, raw in zip(self._builders, m.groups(), strict=True):
            build(rec, raw, scratch)
        _finish(rec, scratch)
        return rec


def strip_eol(line: bytes) -> bytes:
    """Remove exactly one trailing ``\\n`` and then one ``\\r`` (the chunk grammar's ``\\r?\\n``)."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


_KNOWN_CODES = set("aAbBCDefhHiklLmnoOpPqrRsStTuUvVXI%") | {"^ti", "^to"}


def _int_or_none(raw: bytes) -> int | None:
    try:
        return None if raw == b"-" else int(raw)
    except ValueError:
        return None


def _builder(f: _Field, directives: set[str], final_status: bool) -> Callable[[Record, bytes, dict], None]:
    c, p = f.code, (f.param or "")

    def store(attr: str, conv: Callable[[bytes], object], *, prefer: bool = True):
        def b(rec: Record, raw: bytes, _s: dict) -> None:
            if prefer or getattr(rec, attr) is None:
                setattr(rec, attr, conv(raw))

        return b

    def text(raw: bytes) -> str | None:
        return None if raw == b"-" else apache_unescape(raw)

    if c == "h":
        return store("client", text, prefer="a" not in directives)
    if c == "a":
        return store("client", text)
    if c in ("v", "V"):
        return store("vhost", text, prefer=c == "v" or "v" not in directives)
    if c == "p":
        return store("server_port", _int_or_none, prefer=p in ("", "canonical"))
    if c == "r":

        def r(rec: Record, raw: bytes, _s: dict) -> None:
            rec.request = apache_unescape(raw) if raw != b"-" else "-"
            rec.raw["target"] = raw

        return r
    if c == "s":
        # %>s (final status) wins over %s (original status) when both are logged
        return store("status", _int_or_none, prefer=">" in f.directive or not final_status)
    if c in ("O", "b", "B"):
        rank = {"O": 3, "b": 2, "B": 1}[c]

        def b(rec: Record, raw: bytes, s: dict, rank=rank) -> None:
            if rank > s.get("bytes_rank", 0):
                s["bytes_rank"] = rank
                rec.bytes = _int_or_none(raw)

        return b
    if c == "t":

        def t(rec: Record, raw: bytes, s: dict) -> None:
            s.setdefault("time_parts", []).append((p, raw))

        return t
    if c == "m":
        return lambda rec, raw, s: s.__setitem__("m", text(raw))
    if c in "Uq":

        def uq(rec: Record, raw: bytes, s: dict) -> None:
            s[c] = text(raw)
            s["raw_target"] = s.get("raw_target", b"") + raw

        return uq
    if c == "H":
        return lambda rec, raw, s: s.__setitem__("H", text(raw))
    if c in "iC":
        key = p.lower()
        name = (
            {"user-agent": "user_agent", "referer": "referer"}.get(key, p)
            if c == "i"
            else (f"cookie:{p}" if p else "cookie")
        )

        def h(rec: Record, raw: bytes, _s: dict) -> None:
            v = text(raw)
            if v is None:
                return
            if name in ("user_agent", "referer"):
                setattr(rec, name, v)
            else:
                rec.headers[name] = v
                if c == "i" and key == "x-forwarded-for":
                    rec.forwarded_for = v
                elif c == "i" and key == "host" and "v" not in directives and "V" not in directives:
                    rec.vhost = host_only(v)
            rec.raw[name] = raw

        return h
    return lambda rec, raw, s: None  # logged but not inspected (%D, %P, %{X}e …)


def host_only(value: str) -> str | None:
    """A logged ``Host`` value without its port (``Shop.example:8080`` -> ``Shop.example``,
    ``[2001:db8::1]:443`` -> ``2001:db8::1``); ``None`` when empty or ``-``."""
    v = value.strip()
    if v.startswith("["):
        v = v[1 : v.find("]")] if "]" in v else v[1:]
    elif v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v or None if v != "-" else None


_METHOD_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_PROTOCOL_SHAPE = re.compile(r"[A-Za-z]{2,8}/[0-9.]{1,5}")


def split_request(request: str) -> tuple[str | None, str, str | None]:
    """Split a request line into (method, target, protocol), keeping the target whole.

    Attack lines are often not ``METHOD target HTTP/x.y``: raw spaces inside the target,
    no protocol, or binary junk. Whatever is not clearly the method or the protocol stays
    in the target, which is the field that gets inspected.
    """
    if request == "-":
        return None, "", None
    parts = request.split(" ")
    method = None
    if len(parts) >= 2 and _METHOD_SHAPE.fullmatch(parts[0]):
        method = parts.pop(0)
    protocol = None
    if len(parts) >= 2 and _PROTOCOL_SHAPE.fullmatch(parts[-1]):
        protocol = parts.pop()
    return method, " ".join(parts), protocol


def _finish(rec: Record, s: dict) -> None:
    if rec.request is None and ("m" in s or "U" in s):
        rec.request = " ".join(x for x in (s.get("m"), (s.get("U") or "") + (s.get("q") or ""), s.get("H")) if x)
        rec.raw["target"] = s.get("raw_target", b"")
    if rec.request is not None:
        rec.method, rec.target, rec.protocol = split_request(rec.request)
    parts = s.get("time_parts")
    if parts:
        rec.time = parse_clf_time(parts[0][1]) if len(parts) == 1 and parts[0][0] == "" else _assemble_time(parts)


# --- presets and detection ------------------------------------------------------------------
@lru_cache(maxsize=64)
def compile_format(spec: str) -> LogFormat:
    """A preset name or a LogFormat string -> compiled `LogFormat` (cached per process)."""
    if spec in PRESETS:
        return LogFormat(PRESETS[spec], spec)
    if "%" not in spec:
        raise UsageError(f"unknown log format {spec!r}: use one of {', '.join(PRESETS)} or a LogFormat string")
    return LogFormat(spec)


DETECT_LINES = 200


def detect_format(lines: Iterable[bytes]) -> LogFormat | None:
    """Pick the preset that parses most of the given lines (``None`` if none parses any)."""
    sample = [ln for ln in lines if ln.strip()][:DETECT_LINES]
    best, best_count = None, 0
    for name in DETECT_ORDER:
        lf = compile_format(name)
        count = sum(1 for ln in sample if lf.match(ln))
        if count > best_count:
            best, best_count = lf, count
    return best


def apache_escape(text: str) -> str:
    """Write text the way mod_log_config logs a quoted field (the inverse of `apache_unescape`)."""
    out = []
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)
