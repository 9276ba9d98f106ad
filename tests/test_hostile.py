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
