"""Start-up: a scan imports and compiles only what its input and options need (the start-up row
of benchmarks/run.py, docs/performance.md). Checked on the modules a fresh ``dropscan scan``
process has loaded when it exits, never on a clock."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from conftest import SAMPLE_LOGS, combined_line

# writes the names of the loaded modules to $MODULES when the process exits (after main's exit)
PROBE = (
    "import atexit, json, os, sys\n"
    "atexit.register(lambda: open(os.environ['MODULES'], 'w').write(json.dumps(sorted(sys.modules))))\n"
    "from dropscan.cli import main\n"
    "main()\n"
)
# what a plain scan of lines no signature can match does not need
NOT_NEEDED = {
    "regex": "signature patterns compile when a line first needs them",
    "dropscan.outputs.progress": "the progress line is drawn on a terminal only",
    "rich.live": "the progress line is drawn on a terminal only",
    "dropscan.detect.sigma.load": "Sigma rules run with --sigma only",
    "dropscan.detect.sigma.run": "Sigma rules run with --sigma only",
    "dropscan.state.incremental": "the cron state is read with --state or --follow only",
    "tomllib": "there is no config file",
    "pandas": "frames are for the API and parquet",
    "distributed": "Dask runs with --engine dask only",
}


def _modules(tmp_path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "MODULES": str(out)}
    p = subprocess.run(
        [sys.executable, "-c", PROBE, "scan", "-f", "jsonl", "-o", str(tmp_path / "f.jsonl"), *args],
        capture_output=True,
        env=env,
        cwd=tmp_path,  # no ./dropscan.toml
        timeout=120,
    )
    assert p.returncode in (0, 1), p.stderr
    return set(json.loads(out.read_text()))


def test_a_scan_of_benign_lines_loads_nothing_it_does_not_need(tmp_path):
    assert all(importlib.util.find_spec(m) for m in NOT_NEEDED)  # a module moved is named anew here
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(combined_line(f"/index.html?page={i}") for i in range(10)))
    loaded = _modules(tmp_path, "-j", "1", str(log))
    assert {m: why for m, why in NOT_NEEDED.items() if m in loaded} == {}


def test_what_a_scan_needs_is_loaded_when_it_needs_it(tmp_path):
    """The probe sees lazily loaded modules: an attack line compiles patterns (regex), --state
    reads the state."""
    loaded = _modules(tmp_path, "-j", "1", "--state", str(tmp_path / "state.json"), str(SAMPLE_LOGS / "access.log"))
    assert {"regex", "dropscan.state.incremental"} <= loaded
