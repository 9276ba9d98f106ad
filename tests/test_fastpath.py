"""The fast path (chunk grammar + prefilter) loses nothing: exactly the findings and the line
accounting of the full path, on the sample logs, the corpus and generated evasions."""

from __future__ import annotations

from conftest import REAL_APACHE_LINES, SAMPLE_LOGS, combined_line, corpus_cases
from dropscan.logformat import compile_format
from dropscan.sources import Source, is_log_like, open_blocks

COMBINED = compile_format("combined")


def _compare(fast, full, chunk: bytes, fmt=COMBINED):
    a = fast.scan_chunk(chunk, fmt, log_file="x")
    b = full.scan_chunk(chunk, fmt, log_file="x")
    assert (a.lines, a.records, a.rejected) == (b.lines, b.records, b.rejected)
    assert [f.to_record() for f in a.findings] == [f.to_record() for f in b.findings]
    return b


def test_sample_logs(fast_scanner, full_scanner):
    for p in SAMPLE_LOGS.iterdir():
        if not is_log_like(p.name):  # kern.log: the firewall-log sample
            continue
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
