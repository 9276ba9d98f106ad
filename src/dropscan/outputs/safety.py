"""Attacker-written text is data: make it safe for terminals, spreadsheets and mail.

* `term` escapes every control character (C0, DEL, C1) and Unicode bidi/format controls as
  ``\\xhh`` / ``\\uXXXX``, so no logged escape sequence can move the cursor, retitle the window
  or hide text. dropscan never renders markup from log text (no Rich markup anywhere).
* `csv_cell` defuses spreadsheet formulas (a cell starting with ``= + - @`` gets a leading
  ``'``, OWASP's CSV-injection advice; tab and CR are escaped like every control character).
* `defang` rewrites URLs and hosts for human-facing output: ``hxxp://203.0.113[.]9/x``.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")


def _esc(m: re.Match[str]) -> str:
    c = m.group()
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def term(text: object) -> str:
    """Text safe to print on a terminal (control and bidi characters escaped)."""
    s = "" if text is None else str(text)
    s = _CONTROL.sub(_esc, s)
    if any(unicodedata.category(c) == "Cf" for c in s if ord(c) > 0x7F):  # other invisible format chars
        s = "".join(_esc_char(c) if ord(c) > 0x7F and unicodedata.category(c) == "Cf" else c for c in s)
    return s


def _esc_char(c: str) -> str:
    return f"\\u{ord(c):04x}"


_FORMULA_START = ("=", "+", "-", "@")


def csv_cell(value: object) -> str:
    """A CSV cell that no spreadsheet will evaluate as a formula, and that is plain text in a
    terminal that shows the file: control characters are escaped as by `term` (so no cell can
    start with a tab or CR either), then a formula start gets a leading ``'``."""
    if value is None:
        return ""
    s = term(value)
    if s.startswith(_FORMULA_START):
        return "'" + s
    return s


_SCHEME = re.compile(r"\b(h)tt(ps?)(?=://)|\b(f)t(ps?)(?=://)", re.IGNORECASE)
_URL_HOST = re.compile(r"(?<=://)((?:[^/\s:?#\[\]@]+@)?[^/\s:?#\[\]@]+)\.([^./\s:?#\[\]@]+)(?=[/:?#\s\"')]|$)")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3})\.(\d{1,3})(?![\d.])")


def _scheme(m: re.Match[str]) -> str:
    if m.group(1):
        return m.group(1) + "xx" + m.group(2)
    return m.group(3) + "x" + m.group(4)


def defang(text: str | None) -> str | None:
    """``http://203.0.113.9/x`` -> ``hxxp://203.0.113[.]9/x``: schemes made unclickable, the
    last dot of URL hosts and IPv4 literals bracketed. Idempotent, and only for humans: JSON
    output stays exact."""
    if not text:
        return text
    s = _SCHEME.sub(_scheme, text)
    s = _URL_HOST.sub(r"\1[.]\2", s)
    return _IPV4.sub(r"\1[.]\2", s)


def defang_host(host: str) -> str:
    """A destination host for humans: ``203.0.113[.]9``, ``evil[.]example``, ``2001:db8::[:]5``."""
    if ":" in host:
        i = host.rfind(":")
        return host[:i] + "[:]" + host[i + 1 :]
    i = host.rfind(".")
    return host if i < 0 else host[:i] + "[.]" + host[i + 1 :]
