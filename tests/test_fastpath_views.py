"""The fast path is sound against every way a decoding view creates or deletes characters.

Every signature's own ``match`` examples are the payloads. Each transformation below is one way
a view (``url``, ``cmd``, ``jndi``, ``base64``, and Apache's escaping before them) turns text
into other text: it writes a span of the payload in an encoding the view undoes (characters
created), or slips into it something the view removes (characters deleted). The lines are
built from compositions of them, placed in every kind of field, and the fast path (chunk
grammar + prefilter) must give exactly the findings of the full path, finding for finding.

`test_every_transformation_of_every_example` applies each transformation alone to every
example (whole payload and a middle span); `test_compositions` lets hypothesis compose up to
`DEPTH` of them at chosen spans (derandomized, `EXAMPLES` runs; ``DROPSCAN_VIEWS_EXAMPLES=20000``
runs longer).
"""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropscan.formats.logformat import LogFormat, apache_escape, compile_format

COMBINED = compile_format("combined")
UNQUOTED = LogFormat('%h %l %u %t "%r" %>s %b %{X-Cmd}i')  # a header logged without quotes
PREFIX = '203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "GET '
EXAMPLES = int(os.environ.get("DROPSCAN_VIEWS_EXAMPLES", "300"))
DEPTH = 3


def _pct(s: str, upper: bool = False) -> str:
    return "".join(("%{:02X}" if upper else "%{:02x}").format(b) for b in s.encode("utf-8", "surrogatepass"))


def _glob(s: str) -> str:
    return "".join(f"[{c}]" if "a" <= c <= "z" else c for c in s)


def _every(sep: str):
    return lambda s: sep.join(s) if len(s) > 1 else s + sep


def _spaces(by: str):
    return lambda s: s.replace(" ", by)


_NAMED = {"/": "&sol;", ":": "&colon;", ";": "&semi;", "(": "&lpar;", ")": "&rpar;", "|": "&vert;", "$": "&dollar;"}
_NAMED.update({".": "&period;", "{": "&lbrace;", "}": "&rbrace;", "=": "&equals;", " ": "&Tab;", "`": "&grave;"})

# name -> span transformation. Created: the span in an encoding a view decodes. Deleted:
# something a view removes, slipped between the span's characters.
TRANSFORMS = {
    # url view: percent-decoding to a fixed point, %u, JSON \u, entities, NULs deleted
    "pct": _pct,
    "pct_upper": lambda s: _pct(s, True),
    "pct_twice": lambda s: _pct(_pct(s)),
    "pct_half": lambda s: "".join(_pct(c) if i % 2 else c for i, c in enumerate(s)),
    "pct_u": lambda s: "".join(f"%u{ord(c):04x}" if ord(c) < 0x10000 else c for c in s),
    "json_u": lambda s: "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else c for c in s),
    "entity_dec": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "entity_hex0": lambda s: "".join(f"&#x000{ord(c):x};" for c in s),
    "entity_named": lambda s: "".join(_NAMED.get(c, c) for c in s),
    "entity_amp": lambda s: s.replace("&", "&amp;"),
    "plus": _spaces("+"),
    "nul_raw": _every("\x00"),
    "nul_pct": _every("%00"),
    "nul_pct_u": _every("%u0000"),
    "nul_entity": _every("&#0;"),
    "nul_json": _every("\\u0000"),
    "surrogate_pct_u": _every("%uD800"),
    "surrogate_entity": _every("&#xD800;"),
    "beyond_unicode_entity": _every("&#1114112;"),
    # cmd view: what a shell makes of it
    "squote": _every("'"),
    "dquote": _every('"'),
    "backslash": _every("\\"),
    "caret": _every("^"),
    "empty_at": _every("$@"),
    "empty_star": _every("$*"),
    "empty_braces": _every("${}"),
    "empty_subst": _every("$()"),
    "empty_backticks": _every("``"),
    "glued_var": _every("$u"),
    "glued_var_braced": _every("${u}"),
    "glob": _glob,
    "ansi_hex": lambda s: "$'" + "".join(f"\\x{ord(c):02x}" if ord(c) < 256 else c for c in s) + "'",
    "ansi_octal": lambda s: "$'" + "".join(f"\\{ord(c):03o}" if ord(c) < 256 else c for c in s) + "'",
    "ansi_u": lambda s: "$'" + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else c for c in s) + "'",
    "line_escape": lambda s: s.replace(";", "\\n").replace(" ", "\\n"),
    "ifs": _spaces("${IFS}"),
    "ifs9": _spaces("$IFS$9"),
    "ifs_trim": _spaces("${IFS%??}"),
    "tab": _spaces("\t"),
    "vtab": _spaces("\x0b"),
    "formfeed": _spaces("\x0c"),
    "many_spaces": _spaces("   "),
    "space_after_sep": lambda s: s.replace(";", "; ").replace("|", "| ").replace("`", "` "),
    "brace_list": lambda s: "{" + s.replace(" ", ",") + "}" if " " in s else "{" + s + ",}",
    "brace_word": lambda s: s[:1] + "{" + s[1:2] + ",}" + s[2:] if len(s) > 2 else s,
    "printf_subst": lambda s: "$(printf '" + "".join(f"\\{ord(c):03o}" for c in s if ord(c) < 256) + "')",
    "echo_backticks": lambda s: "`echo " + s + "`" if not set(s) & set("`;|&$\n") else s,
    "upper": lambda s: s.upper() if s.isascii() else s,
    # jndi view: log4j lookups
    "lookup_lower": lambda s: "".join(f"${{lower:{c}}}" if c not in "{}$" else c for c in s),
    "lookup_upper": lambda s: "".join(f"${{upper:{c}}}" if c not in "{}$" else c for c in s),
    "lookup_default": lambda s: "".join(f"${{::-{c}}}" if c not in "{}$:" else c for c in s),
    "lookup_env": lambda s: "".join(f"${{env:NaN:-{c}}}" if c not in "{}$:" else c for c in s),
    "lookup_date": lambda s: "".join(f"${{date:'{c}'}}" if c not in "{}$'" else c for c in s),
    "lookup_base64": lambda s: "${base64:" + base64.b64encode(s.encode()).decode() + "}",
    # base64 view: blobs next to a named decoder
    "b64_pipe": lambda s: "echo " + base64.b64encode(s.encode()).decode() + "|base64 -d|sh",
    "b64_urlsafe": lambda s: "b64decode('" + base64.urlsafe_b64encode(s.encode()).decode() + "')",
    "b64_enc": lambda s: "powershell -enc " + base64.b64encode(s.encode("utf-16-le")).decode(),
    # Apache's own escaping, and bytes that are not UTF-8
    "apache_escape": apache_escape,
    "invalid_utf8": lambda s: s + "\udcff",
}
PLACES = ("target", "query", "user_agent", "referer", "unquoted", "rejected")


def payloads(sigs) -> list[str]:
    return [ex.text for sig in sigs.signatures for ex in sig.matches]


def line(text: str, place: str) -> tuple[bytes, LogFormat]:
    """``text`` as one field of a log line (Apache-escaped where Apache escapes it)."""
    enc = lambda s: s.encode("utf-8", "surrogateescape").replace(b"\n", b"\\n").replace(b"\r", b"\\r")  # noqa: E731
    if place in ("target", "query"):
        target = text if place == "target" or text.startswith("/") else "/x.php?c=" + text
        out = f'{PREFIX}{apache_escape(target)} HTTP/1.1" 404 1 "-" "-"'
    elif place in ("user_agent", "referer"):
        ua, ref = (text, "-") if place == "user_agent" else ("-", text)
        out = f'{PREFIX}/ HTTP/1.1" 404 1 "{apache_escape(ref)}" "{apache_escape(ua)}"'
    elif place == "unquoted":  # a server that does not escape: raw bytes in the field
        return enc(f'{PREFIX}/ HTTP/1.1" 404 1 ' + text.replace(" ", "\t")) + b"\n", UNQUOTED
    else:  # not a record: the line is scanned whole
        out = "junk " + text
    return enc(out) + b"\n", COMBINED


def spans(text: str) -> list[tuple[int, int]]:
    n = len(text)
    return [(0, n), (n // 3, max(n // 3 + 1, 2 * n // 3))] if n > 2 else [(0, n)]


def compare(fast, full, chunk: bytes, fmt: LogFormat) -> list:
    a = fast.scan_chunk(chunk, fmt, log_file="x")
    b = full.scan_chunk(chunk, fmt, log_file="x")
    assert (a.lines, a.records, a.rejected) == (b.lines, b.records, b.rejected)
    fa, fb = [f.to_record() for f in a.findings], [f.to_record() for f in b.findings]
    if fa != fb:  # name the line the fast path lost (or gained), not the whole chunk
        lost = {f["line_no"] for f in fb} ^ {f["line_no"] for f in fa}
        lines = chunk.split(b"\n")
        shown = [lines[n - 1] for n in sorted(lost)][:3]
        raise AssertionError(f"fast != full on {len(lost)} line(s), e.g. {shown or 'the same lines'}")
    return b.findings


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_transformation_of_every_example(fast_scanner, full_scanner, sigs, name):
    fn = TRANSFORMS[name]
    by_fmt: dict[int, tuple[LogFormat, list[bytes]]] = {}
    for i, text in enumerate(payloads(sigs)):
        for a, b in spans(text):
            place = PLACES[i % len(PLACES)]
            ln, fmt = line(text[:a] + fn(text[a:b]) + text[b:], place)
            by_fmt.setdefault(id(fmt), (fmt, []))[1].append(ln)
    for fmt, lines in by_fmt.values():
        compare(fast_scanner, full_scanner, b"".join(lines), fmt)


@st.composite
def composed(draw, texts: list[str]) -> tuple[str, list[str], str]:
    text = draw(st.sampled_from(texts))
    chain = draw(st.lists(st.sampled_from(sorted(TRANSFORMS)), min_size=1, max_size=DEPTH))
    for name in chain:
        a = draw(st.integers(0, len(text)))
        b = draw(st.integers(a, len(text)))
        text = text[:a] + TRANSFORMS[name](text[a:b]) + text[b:]
    return text, chain, draw(st.sampled_from(PLACES))


def test_compositions(fast_scanner, full_scanner, sigs):
    texts = payloads(sigs)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(composed(texts))
    def check(case):
        text, _chain, place = case
        ln, fmt = line(text, place)
        compare(fast_scanner, full_scanner, ln, fmt)

    check()
