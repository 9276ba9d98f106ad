"""Throughput of the egress report's own steps, apart from the scan that finds the findings.

    .venv/bin/python benchmarks/bench_report.py [--findings 300000] [--hosts 50] [--fw-lines 100000]

* aggregation: `ReportBuilder.add` per finding (synthetic findings, 2/3 naming an IP destination);
* firewall-log parsing: `fwlog.read_events` over a generated kern.log (classic syslog lines);
* correlation: `ReportBuilder.correlate`; 2/3 of the packets go to a dropper address that every
  host received, so each of those is checked against every host (the worst case), the rest go
  elsewhere (the common case: one dict miss).
The kern.log is written to benchmarks/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dropscan.detect.egress import Destination
from dropscan.detect.findings import Finding
from dropscan.report.egress_report import ReportBuilder
from dropscan.report.fwlog import FirewallStats, read_events

START = datetime(2026, 11, 20, tzinfo=UTC)
SPAN = 8 * 86400
DROPPERS = [Destination("203.0.113.91", 80, "http", True), Destination("198.51.100.95", 1389, "ldap", True)]
NAMED = Destination("evil.example", 80, "http", False)


def findings(n: int, hosts: int, rnd: random.Random) -> list[Finding]:
    out = []
    for i in range(n):
        dest = rnd.choice([*DROPPERS, NAMED])
        out.append(
            Finding(
                "access.log",
                i + 1,
                i * 200,
                START + timedelta(seconds=rnd.randrange(SPAN)),
                f"site{rnd.randrange(hosts)}.example.com",
                f"203.0.113.{rnd.randrange(256)}",
                "GET",
                "GET /x",
                rnd.choice([200, 404]),
                100,
                None,
                None,
                "target",
                "wget x",
                ["dropper.wget"],
                "dropper",
                "critical",
                [dest],
            )
        )
    return out


def kern_log(path: Path, n: int, rnd: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for i in range(n):
            t = START + timedelta(seconds=rnd.randrange(SPAN))
            dst, dpt = rnd.choice(
                [("203.0.113.91", 80), ("198.51.100.95", 1389), (f"192.0.2.{rnd.randrange(1, 255)}", 443)]
            )
            fh.write(
                f"{t:%b} {t.day:2d} {t:%H:%M:%S} web1 kernel: [{i}.5] [DROPSCAN EGRESS] IN= OUT=eth0 SRC=192.0.2.10 "
                f"DST={dst} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT={dpt} WINDOW=64240 "
                "RES=0x00 SYN URGP=0 UID=33 GID=33 \n"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=300_000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--fw-lines", type=int, default=100_000)
    a = ap.parse_args()
    rnd = random.Random(1)
    fs = findings(a.findings, a.hosts, rnd)
    fw = Path(__file__).parent / "data" / "kern.log"
    kern_log(fw, a.fw_lines, rnd)

    t = time.perf_counter()
    b = ReportBuilder().add_all(fs)
    agg = time.perf_counter() - t
    print(f"aggregate: {len(fs):,} findings in {agg:.2f} s ({agg / len(fs) * 1e6:.1f} us/finding)")

    stats = FirewallStats()
    t = time.perf_counter()
    events = list(read_events([str(fw)], b.clock(), stats))
    parse = time.perf_counter() - t
    print(f"parse:     {stats.lines:,} firewall-log lines in {parse:.2f} s ({stats.lines / parse:,.0f} lines/s)")

    t = time.perf_counter()
    b.correlate(events)
    corr = time.perf_counter() - t
    rep = b.report()
    print(
        f"correlate: {len(events):,} packets x {a.hosts} hosts in {corr:.2f} s "
        f"({corr / len(events) * 1e6:.1f} us/packet), {sum(h.confirmed for h in rep.hosts)} confirmed pairs"
    )


if __name__ == "__main__":
    main()
