"""Throughput benchmark: dropscan against the floors and the peers, on one generated log.

    python benchmarks/run.py [--lines 1000000] [--runs 3] [--peer-lines 100000] [--markdown]

Generates (once, cached in benchmarks/data/) a seeded realistic log with benchmarks/generate.py,
then times whole processes, each the median of ``--runs`` runs after one warm-up, with peak RSS
from wait4(2):

* ``dropscan scan`` with 1 job and with all cores, on the plain file and on the .gz, and its
  start-up (a 10-line file);
* the floors: Python's bare ``for line in open(f, "rb")`` loop, and ``zcat > /dev/null``;
* the peers, parse only: apache-log-parser (the documented combined format) and apachelogs,
  on the first ``--peer-lines`` lines (they are 100x slower), scaled to lines/s.

It prints lines/s, MB/s, the ratio to the relevant floor (plain: Python's line loop; .gz: zcat)
and peak RSS, the all-cores speed-up and the .gz-to-plain ratio, checks that dropscan found exactly
the labelled attack lines, and notes the machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PY = sys.executable
DROPSCAN = [str(Path(PY).with_name("dropscan"))] if Path(PY).with_name("dropscan").exists() else [PY, "-m", "dropscan"]

FLOOR_LOOP = "import sys\nfor line in open(sys.argv[1], 'rb'):\n    pass\n"
ALP = (
    "import sys, apache_log_parser as alp\n"
    'p = alp.make_parser(\'%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"\')\n'
    "for line in open(sys.argv[1], encoding='utf-8', errors='replace'):\n"
    "    try: p(line)\n    except Exception: pass\n"
)
APACHELOGS = (
    "import sys, apachelogs\n"
    "p = apachelogs.LogParser(apachelogs.COMBINED, encoding='utf-8', errors='backslashreplace')\n"
    "for line in open(sys.argv[1], encoding='latin-1'):\n"
    "    try: p.parse(line)\n    except ValueError: pass\n"
)


def run_once(cmd: list[str], stdout=subprocess.DEVNULL, env: dict | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if p.returncode not in (0, 1):
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{err}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss // 1024


def _stats(samples: list[tuple[float, float, int]]) -> dict:
    walls = [s[0] for s in samples]
    return {
        "wall": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "cpu": statistics.median(s[1] for s in samples),
        "rss": max(s[2] for s in samples),
    }


def measure(cmd: list[str], runs: int, env: dict | None = None) -> dict:
    run_once(cmd, env=env)  # warm-up (page cache, hyperscan database cache)
    return _stats([run_once(cmd, env=env) for _ in range(runs)])


def measure_pair(cmd: list[str], runs: int, baseline_env: dict) -> tuple[dict, dict]:
    """(this checkout, baseline) for one command, runs interleaved so that both see the same load."""
    run_once(cmd)
    run_once(cmd, env=baseline_env)
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(run_once(cmd))
        theirs.append(run_once(cmd, env=baseline_env))
    return _stats(ours), _stats(theirs)


def ensure_data(lines: int) -> Path:
    DATA.mkdir(exist_ok=True)
    log = DATA / f"access-{lines}.log"
    if not (log.exists() and Path(str(log) + ".gz").exists()):
        subprocess.run([PY, str(HERE / "generate.py"), str(log), "--lines", str(lines), "--gzip"], check=True)
    return log


def check_detection(log: Path) -> str:
    labels = {int(x.split("\t")[0]) for x in Path(str(log) + ".labels.tsv").read_text().splitlines()[1:]}
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        cmd = [*DROPSCAN, "scan", str(log), "-j", "1", "-f", "jsonl", "-o", out.name]
        subprocess.run(cmd, stderr=subprocess.DEVNULL, check=False)
        found = {json.loads(x)["line_no"] for x in open(out.name)}
    missed, extra = labels - found, found - labels
    return (
        f"detection: {len(found & labels)}/{len(labels)} labelled attack lines found, {len(missed)} missed, "
        f"{len(extra)} other findings"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peer-lines", type=int, default=20_000)
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument(
        "--rss-scale",
        type=int,
        default=4,
        help="also scan the log repeated this many times: peak RSS, and 1 job vs all cores on it (0: skip)",
    )
    ap.add_argument(
        "--baseline",
        metavar="SRC",
        help="also time the dropscan rows with another version's source tree (PYTHONPATH=SRC, e.g. a checkout "
        "of an older commit), interleaved run by run, and print this version's speed-up over it",
    )
    a = ap.parse_args()
    base_env = {**os.environ, "PYTHONPATH": str(Path(a.baseline).resolve())} if a.baseline else None
    log = ensure_data(a.lines)
    gz = Path(str(log) + ".gz")
    size = log.stat().st_size
    peer = DATA / f"access-{a.lines}-head{a.peer_lines}.log"
    if not peer.exists():
        with open(log, "rb") as src, open(peer, "wb") as dst:
            for i, line in enumerate(src):
                if i >= a.peer_lines:
                    break
                dst.write(line)
    peer_size = peer.stat().st_size
    tiny = DATA / f"access-{a.lines}-head10.log"  # start-up: a scan with (almost) nothing to read
    if not tiny.exists():
        with open(log, "rb") as src:
            tiny.write_bytes(b"".join(itertools.islice(src, 10)))
    cores = os.cpu_count() or 1
    scan = [*DROPSCAN, "scan", "-f", "jsonl", "-o", os.devnull]
    rows = [
        ("python line loop (floor)", [PY, "-c", FLOOR_LOOP, str(log)], a.lines, size, None),
        ("zcat > /dev/null (gz floor)", ["sh", "-c", f"zcat '{gz}' > /dev/null"], a.lines, size, None),
        ("dropscan scan, 1 job", [*scan, "-j", "1", str(log)], a.lines, size, "python line loop (floor)"),
        (
            f"dropscan scan, {cores} jobs",
            [*scan, "-j", str(cores), str(log)],
            a.lines,
            size,
            "python line loop (floor)",
        ),
        ("dropscan scan .gz, 1 job", [*scan, "-j", "1", str(gz)], a.lines, size, "zcat > /dev/null (gz floor)"),
        (
            f"dropscan scan .gz, {cores} jobs",
            [*scan, "-j", str(cores), str(gz)],
            a.lines,
            size,
            "zcat > /dev/null (gz floor)",
        ),
        ("dropscan start-up (10-line file)", [*scan, "-j", "1", str(tiny)], 10, tiny.stat().st_size, None),
        ("apache-log-parser parse only", [PY, "-c", ALP, str(peer)], a.peer_lines, peer_size, None),
        ("apachelogs parse only", [PY, "-c", APACHELOGS, str(peer)], a.peer_lines, peer_size, None),
    ]
    results, baseline = {}, {}
    for name, cmd, n, nbytes, _ in rows:
        try:
            if base_env is not None and name.startswith("dropscan"):
                m, b = measure_pair(cmd, a.runs, base_env)
                baseline[name] = b
            else:
                m = measure(cmd, a.runs if n != a.peer_lines else 1)
        except (SystemExit, FileNotFoundError) as e:  # a peer that is not installed
            print(f"skip {name}: {e}", file=sys.stderr)
            continue
        m["lines_s"] = n / m["wall"]
        m["mb_s"] = nbytes / m["wall"] / 1e6
        results[name] = m
    print(
        f"# dropscan benchmark: {a.lines:,} lines, {size / 1e6:.0f} MB ({size / a.lines:.0f} B/line), "
        f"gz {gz.stat().st_size / 1e6:.0f} MB"
    )
    print(
        f"# machine: {platform.machine()}, {cores} cores, {platform.processor() or _cpu_model()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )
    head = ("what", "wall s (min-max)", "cpu s", "lines/s", "MB/s", "x floor", "peak RSS MiB")
    sep = " | " if a.markdown else "  "
    print(("| " if a.markdown else "") + sep.join(head) + (" |" if a.markdown else ""))
    if a.markdown:
        print("|" + "---|" * len(head))
    alp = results.get("apache-log-parser parse only")
    for name, _cmd, _n, _b, floor in rows:
        if name not in results:
            continue
        m = results[name]
        ratio = f"{m['wall'] / results[floor]['wall']:.2f}" if floor and floor in results else "-"
        cells = (
            name,
            f"{m['wall']:.2f} ({m['min']:.2f}-{m['max']:.2f})",
            f"{m['cpu']:.2f}",
            f"{m['lines_s']:,.0f}",
            f"{m['mb_s']:.0f}",
            ratio,
            str(m["rss"]),
        )
        print(("| " if a.markdown else "") + sep.join(cells) + (" |" if a.markdown else ""))
    if alp and "dropscan scan, 1 job" in results:
        print(
            f"# dropscan 1 job full scan vs apache-log-parser parse-only: "
            f"{results['dropscan scan, 1 job']['lines_s'] / alp['lines_s']:.0f}x"
        )
    one, many = results.get("dropscan scan, 1 job"), results.get(f"dropscan scan, {cores} jobs")
    gz1, gzn = results.get("dropscan scan .gz, 1 job"), results.get(f"dropscan scan .gz, {cores} jobs")
    if one and many and gz1 and gzn:
        print(
            f"# {cores} jobs vs 1 job: {one['wall'] / many['wall']:.2f}x plain, {gz1['wall'] / gzn['wall']:.2f}x .gz; "
            f".gz vs plain: {gz1['wall'] / one['wall']:.2f}x (1 job), {gzn['wall'] / many['wall']:.2f}x ({cores} jobs)"
        )
    for name, b in baseline.items():
        m = results[name]
        print(
            f"# vs baseline {a.baseline}: {name}: {b['wall']:.2f} s -> {m['wall']:.2f} s wall "
            f"({b['wall'] / m['wall']:.2f}x), CPU {b['cpu']:.2f} -> {m['cpu']:.2f} s, RSS {b['rss']} -> {m['rss']} MiB"
        )
    print("# " + check_detection(log))
    if a.rss_scale > 1:
        big = DATA / f"access-{a.lines}-x{a.rss_scale}.log"
        if not big.exists():
            with open(big, "wb") as dst:
                for _ in range(a.rss_scale):
                    with open(log, "rb") as src:
                        shutil.copyfileobj(src, dst, 1 << 22)
        big_gz = Path(str(big) + ".gz")
        if not big_gz.exists():
            with open(big_gz, "wb") as dst:
                for _ in range(a.rss_scale):  # a multi-member gzip file, as `cat a.gz b.gz` gives
                    with open(gz, "rb") as src:
                        shutil.copyfileobj(src, dst, 1 << 22)
        small_rss = results.get("dropscan scan, 1 job", {}).get("rss")
        one_big = measure([*scan, "-j", "1", str(big)], a.runs)
        many_big = measure([*scan, "-j", str(cores), str(big)], a.runs)
        one_gz, many_gz = (measure([*scan, "-j", str(j), str(big_gz)], a.runs) for j in (1, cores))
        print(
            f"# peak RSS, dropscan scan 1 job: {small_rss} MiB on {a.lines:,} lines, {one_big['rss']} MiB on "
            f"{a.lines * a.rss_scale:,} lines"
        )
        print(
            f"# {a.lines * a.rss_scale:,} lines: 1 job {one_big['wall']:.2f} s, {cores} jobs {many_big['wall']:.2f} s "
            f"({one_big['wall'] / many_big['wall']:.2f}x); .gz 1 job {one_gz['wall']:.2f} s, {cores} jobs "
            f"{many_gz['wall']:.2f} s ({one_gz['wall'] / many_gz['wall']:.2f}x); .gz vs plain "
            f"{one_gz['wall'] / one_big['wall']:.2f}x (1 job), {many_gz['wall'] / many_big['wall']:.2f}x ({cores} jobs)"
        )


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
