"""Peak RSS of scans whose lines are as many as the bytes allow: the worst case for memory.

    .venv/bin/python benchmarks/memory.py                 # a markdown table on stdout
    .venv/bin/python benchmarks/memory.py --mib 1         # smaller inputs, a quicker look

Each case is a fresh ``dropscan scan FILE -f jsonl -o /dev/null`` process (peak RSS from
wait4(2), interpreter and signature pack included). The inputs are short lines: one chunk of
4 MiB (`dropscan.sources.files.CHUNK_SIZE`) holds about 420,000 of them, and a scan used to keep
per-line bookkeeping and every finding of a chunk at once (0.8-1.2 GB). Figures go into
docs/performance.md; the target is under 300 MiB for any scan.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time

# the process pool is used for small files too, so that its path is measured
PRELUDE = "import dropscan.engine as e; e.POOL_MIN_BYTES = 0; from dropscan.cli import main; main()"
CASES = [
    ("10-byte lines, every one a finding (`;id;id;id`)", b";id;id;id\n", "1", False),
    ("10-byte lines, every one a finding, 2 jobs", b";id;id;id\n", "2", False),
    ("10-byte lines, every one a finding, gzip, 2 jobs (chunks shipped to the workers)", b";id;id;id\n", "2", True),
    ('10-byte lines, every one decoded, no finding (`"a"b"c"d`)', b'"a"b"c"d"\n', "1", False),
    ("empty lines", b"\n", "1", False),
]


def peak_rss(path: str, jobs: str) -> tuple[float, float, int]:
    """(peak RSS MiB, wall s, exit code) of one scan in a fresh process."""
    argv = [sys.executable, "-c", PRELUDE, "scan", path, "-l", "combined", "-f", "jsonl", "-o", os.devnull, "-j", jobs]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - t0, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=float, default=4.0, help="input size per case (default: one 4 MiB chunk)")
    args = ap.parse_args()
    size = int(args.mib * (1 << 20))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.mib:g} MiB per input\n")
    print("| input | lines | jobs | peak RSS MiB | wall s | exit |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, line, jobs, compressed in CASES:
            path = os.path.join(tmp, "access.log.gz" if compressed else "access.log")
            with (gzip.open if compressed else open)(path, "wb") as fh:
                fh.write(line * (size // len(line)))
            rss, wall, code = peak_rss(path, jobs)
            print(f"| {name} | {size // len(line):,} | {jobs} | {rss:.0f} | {wall:.1f} | {code} |", flush=True)


if __name__ == "__main__":
    main()
