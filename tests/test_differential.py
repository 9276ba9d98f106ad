"""Our parser against apachelogs (the reference implementation of Apache's LogFormat), line by
line, on every fixture line apachelogs accepts: same client, time, request, status, bytes,
referer and user agent. Lines apachelogs rejects (raw non-ASCII bytes, which Apache never
writes) must still be records for us, because other servers write them."""

from __future__ import annotations

import apachelogs
import pytest

from conftest import CORPUS, REAL_APACHE_LINES, SAMPLE_LOGS
from dropscan.formats.logformat import compile_format
from dropscan.sources.files import Source, open_blocks


def _lines():
    out = list(REAL_APACHE_LINES)
    for name in ("access.log", "access.log.1", "access.log.2.gz"):
        out.extend(b"".join(open_blocks(Source(str(SAMPLE_LOGS / name)))).splitlines())
    for rel in ("elastic-apache-logs/apache_logs", "nielsbasjes-hackers-access-log/hackers-access.log"):
        p = CORPUS / rel
        if p.is_file():
            out.extend(p.read_bytes().splitlines())
    return out


def test_same_fields_as_apachelogs():
    ours = compile_format("combined")
    ref = apachelogs.LogParser(apachelogs.COMBINED, encoding="utf-8", errors="backslashreplace")
    compared = 0
    for line in _lines():
        try:
            e = ref.parse(line.decode("latin-1"))
        except ValueError:
            # printable ASCII (all Apache writes): both reject; raw bytes: we may be lenient
            if line.isascii() and all(32 <= b < 127 for b in line):
                assert ours.parse(line) is None, line
            continue
        r = ours.parse(line)
        assert r is not None, line
        compared += 1
        assert r.client == e.remote_host
        assert r.time == e.request_time
        assert (r.request if r.request != "-" else None) == e.request_line
        assert r.status == e.final_status
        assert r.bytes == e.bytes_sent
        assert r.referer == e.headers_in["Referer"]
        assert r.user_agent == e.headers_in["User-Agent"]
    assert compared >= len(REAL_APACHE_LINES) - 1
    if not CORPUS.is_dir():
        pytest.skip("compared only the bundled lines; the corpus is absent")
    assert compared > 13_000
