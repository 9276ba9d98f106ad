"""Apache LogFormat logs: the presets, any LogFormat string, lighttpd's default, and a preset
followed by trailing fields (``combined`` + ``%D "%{X-Forwarded-For}i"`` …).

The trailing fields are what admins add to ``combined`` (and what nginx ``upstreaminfo``
formats add): timings, sizes, a forwarded-for chain, the Host header, cookies. Detection reads
them off the first lines and names what it found as a spec that compiles again:
``combined+ %{f1}n "%{X-Forwarded-For}i"``, one directive per trailing field, where

* a quoted field whose values are all IP addresses (comma-separated) or ``-`` is the
  ``X-Forwarded-For`` chain, one whose values are all host names is the ``Host`` header,
  any other quoted field is inspected as a header named ``fN`` (its text may come from the
  client: cookies, other headers);
* an unquoted field whose values are all host names is the server name (``%v``, the first one
  only), any other unquoted field (numbers, ids, addresses) is logged but not inspected.

Lines whose trailing fields differ in number from the first lines' are counted as rejects and
scanned whole, never dropped.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from .logformat import DETECT_ORDER, PRESETS, LogFormat, compile_format

# lighttpd's mod_accesslog default: %V (the requested host) where Apache has %l.
LIGHTTPD = '%h %V %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
NAMES = (*PRESETS, "lighttpd")

_QUOTED_TOKEN = rb'"[^"\\\n]*(?:\\[^\n][^"\\\n]*)*"'
# a value list (nginx's $upstream_addr "a:80, b:80") is one field, as LogFormat reads %{…}n
_TOKEN = re.compile(rb"(" + _QUOTED_TOKEN + rb'|[^ "\r\n][^ \r\n]*(?:, [^ "\r\n][^ \r\n]*)*)')
_HOSTNAME = re.compile(r"(?i)(?=[^:]*[a-z])[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::[0-9]{1,5})?|localhost(?::[0-9]{1,5})?")


@lru_cache(maxsize=64)
def compile_spec(spec: str) -> LogFormat | None:
    """A preset, ``lighttpd``, ``PRESET+ TAIL`` or a LogFormat string; None if it is none."""
    if spec == "lighttpd":
        return LogFormat(LIGHTTPD, spec)
    head, plus, tail = spec.partition("+")
    if plus and head in PRESETS and tail.startswith(" "):
        return LogFormat(PRESETS[head] + tail, spec)
    if spec in PRESETS or "%" in spec:
        return compile_format(spec)
    return None


def _is_ip_list(v: str) -> bool:
    try:
        for part in v.split(","):
            ipaddress.ip_address(part.strip())
    except ValueError:
        return False
    return True


def _tail_spec(tails: list[list[bytes]]) -> str:
    """One directive per trailing position, from its values on the sample lines."""
    out, have_vhost, have = [], False, set()
    for i, column in enumerate(zip(*tails, strict=True), 1):
        quoted = all(v.startswith(b'"') for v in column)
        values = [v.strip(b'"').decode("utf-8", "replace") for v in column]
        real = [v for v in values if v not in ("", "-")]
        if quoted:
            if real and all(_is_ip_list(v) for v in real) and "xff" not in have:
                have.add("xff")
                out.append('"%{X-Forwarded-For}i"')
            elif real and all(_HOSTNAME.fullmatch(v) for v in real) and "host" not in have:
                have.add("host")
                out.append('"%{Host}i"')
            else:
                out.append(f'"%{{f{i}}}i"')
        elif real and len(real) == len(values) and all(_HOSTNAME.fullmatch(v) for v in real) and not have_vhost:
            have_vhost = True
            out.append("%v")
        else:
            out.append(f"%{{f{i}}}n")
    return " " + " ".join(out)


def _extended(name: str, sample: list[bytes]) -> tuple[LogFormat | None, int]:
    """``name`` followed by the trailing fields most sample lines have, and how many lines
    that format parses."""
    lf = compile_format(name)
    head = re.compile(lf.line_grammar + rb" ")
    tails: dict[int, list[list[bytes]]] = {}
    for ln in sample:
        m = head.match(ln.rstrip(b"\r\n"))
        if m is None:
            continue
        rest = ln.rstrip(b"\r\n")[m.end() :]
        tokens = _TOKEN.findall(rest)
        if tokens and b" ".join(tokens) == rest:
            tails.setdefault(len(tokens), []).append(tokens)
    if not tails:
        return None, 0
    common = max(tails, key=lambda n: (len(tails[n]), -n))
    tail = _tail_spec(tails[common])
    fmt = LogFormat(PRESETS[name] + tail, name + "+" + tail)
    return fmt, sum(1 for ln in sample if fmt.match(ln))


def _vhost_first(name: str, sample: list[bytes]) -> tuple[LogFormat | None, int]:
    """``%v`` in front of a preset (nginx's ``$host $remote_addr …`` variant)."""
    fmt = LogFormat("%v " + PRESETS[name])
    return fmt, sum(1 for ln in sample if fmt.match(ln))


def detect_exact(sample: list[bytes]) -> tuple[LogFormat | None, int]:
    """lighttpd (only where its host field is not ``-``), then each preset as it is: the one
    that parses most sample lines, and how many; ties go to the earlier, more specific one."""
    best, best_count = None, 0
    light = compile_spec("lighttpd")
    count = sum(1 for ln in sample if light.match(ln) and ln.split(b" ", 2)[1:2] != [b"-"])
    if count:
        best, best_count = light, count
    for name in DETECT_ORDER:
        lf = compile_format(name)
        count = sum(1 for ln in sample if lf.match(ln))
        if count > best_count:
            best, best_count = lf, count
    return best, best_count


def detect(sample: list[bytes]) -> tuple[LogFormat | None, int]:
    """`detect_exact`, else a preset with trailing fields or with ``%v`` in front, whichever
    parses more sample lines."""
    best, best_count = detect_exact(sample)
    if best_count == len(sample):
        return best, best_count
    for name in DETECT_ORDER:
        for other, n in (_extended(name, sample), _vhost_first(name, sample)):
            if n > best_count:
                best, best_count = other, n
    return best, best_count
