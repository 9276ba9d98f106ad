"""What many formats cost: detection on the benchmark log, and a JSON log against the same
lines as combined.

    python benchmarks/formats.py [--lines 1000000] [--runs 3]

* **Detection.** The per-file detection reads the first MiB of a file. It is timed in-process,
  median of ``--runs * 10`` calls, for the Apache presets alone (what dropscan detected before
  the format families, `dropscan.formats.logformat.detect_format`) and for every family
  (`dropscan.formats.detect_format`); then whole ``dropscan scan`` processes with the format
  detected and with ``--log-format combined`` given, so the difference is what detection adds
  to a scan.
* **JSON against combined.** The benchmark log is rewritten as nginx ``escape=json`` lines (the
  same requests, field for field) and both files are scanned (1 job); the ratio of CPU seconds
  is the figure (the issue's target: within 2x), and both must find the same attack lines.

Times are CPU seconds (user + system) of the child, less sensitive than wall time to a busy
machine; wall seconds are printed too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from run import DROPSCAN, ensure_data, measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dropscan.formats import detect_format
from dropscan.formats.logformat import compile_format
from dropscan.formats.logformat import detect_format as detect_apache
from render_formats import Req, nginx_json


def to_nginx_json(src: Path, dst: Path) -> int:
    """The combined log as nginx escape=json lines (the test suite's renderer,
    tests/render_formats.py); returns the number of lines."""
    fmt = compile_format("combined")
    n = 0
    with open(src, "rb") as fin, open(dst, "w", encoding="utf-8", errors="surrogateescape") as out:
        for line in fin:
            r = fmt.parse(line)
            if r is None:
                continue
            req = Req(r.client, r.time, r.method, r.target, r.protocol, r.status, r.bytes, r.referer, r.user_agent)
            out.write(nginx_json(req) + "\n")
            n += 1
    return n


def detection_us(fn, sample: list[bytes], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(sample)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    log = ensure_data(args.lines)
    with open(log, "rb") as fh:
        sample = fh.read(1 << 20).split(b"\n")
    reps = args.runs * 10
    old = detection_us(detect_apache, sample, reps)
    new = detection_us(detect_format, sample, reps)
    print(
        f"detection on the first MiB ({len(sample):,} lines, 200 used): Apache presets {old:,.0f} µs, "
        f"every family {new:,.0f} µs -> {detect_format(sample).name}"
    )
    scan = [*DROPSCAN, "scan", str(log), "-j", "1", "-f", "jsonl"]
    detected = measure(scan, args.runs)
    given = measure([*scan, "--log-format", "combined"], args.runs)
    print(
        f"scan {args.lines:,} lines, detected: {detected['cpu']:.2f} s CPU ({detected['wall']:.2f} s wall); "
        f"--log-format combined: {given['cpu']:.2f} s CPU ({given['wall']:.2f} s wall)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        jlog = Path(tmp) / "access.json.log"
        n = to_nginx_json(log, jlog)
        js = measure([*DROPSCAN, "scan", str(jlog), "-j", "1", "-f", "jsonl"], args.runs)
        print(
            f"nginx JSON, same {n:,} requests ({jlog.stat().st_size / 1e6:.0f} MB against "
            f"{log.stat().st_size / 1e6:.0f} MB): {js['cpu']:.2f} s CPU ({js['wall']:.2f} s wall) = "
            f"{js['cpu'] / given['cpu']:.2f}x combined's CPU"
        )
        same = _same_findings(log, jlog)
        print(f"same attack lines found in both: {same}")
    sys.exit(0)


def _same_findings(a: Path, b: Path) -> bool:
    import dropscan

    def lines(p):
        return [(f.line_no, tuple(f.rule_ids)) for f in dropscan.scan(str(p))]

    return lines(a) == lines(b)


if __name__ == "__main__":
    main()
