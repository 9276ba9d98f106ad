"""Run every signature's own examples through the whole pipeline (``dropscan signatures test``).

An example is turned into a real combined-format log line (Apache-escaped, as Apache would
write it) and scanned like any other line, so the examples test parsing, decoding, matching
and destination extraction together, not the regex alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from .detect.egress import Destination
from .detect.scanner import Scanner
from .detect.signatures import Example, Signature, SignatureSet, lint_runtime
from .formats.logformat import apache_escape, compile_format

EXAMPLE_CLIENT = "203.0.113.66"
EXAMPLE_TIME = "[27/Nov/2026:10:00:00 +0000]"


def example_line(ex: Example) -> bytes:
    """The combined-format log line carrying an example in its field."""
    if ex.field == "line":
        return ex.text.encode("utf-8", "surrogateescape")
    target = ex.text if ex.field == "target" else "/index.php"
    ua = ex.text if ex.field == "user_agent" else "Mozilla/5.0"
    ref = ex.text if ex.field == "referer" else "-"
    return (
        f'{EXAMPLE_CLIENT} - - {EXAMPLE_TIME} "GET {apache_escape(target)} HTTP/1.1" 404 196 '
        f'"{apache_escape(ref)}" "{apache_escape(ua)}"'
    ).encode()


def example_egress(d: Destination) -> str:
    """A destination as examples write it: ``host:port``, ``*.suffix:port`` for a name built at
    run time, the bare host when there is no port (``icmp``)."""
    host = f"*.{d.host}" if d.wildcard else d.host
    return host if d.port is None else f"{host}:{d.port}"


@dataclass(slots=True)
class ExampleResult:
    sig: Signature
    example: Example
    expect_match: bool
    ok: bool
    problem: str = ""


def run_example(scanner: Scanner, sig: Signature, ex: Example, expect_match: bool) -> ExampleResult:
    line = example_line(ex)
    fmt = compile_format("combined")
    finding, _ = scanner.scan_line(line, fmt)
    fired = finding is not None and sig.id in finding.rule_ids
    if fired != expect_match:
        what = "did not fire" if expect_match else f"fired (rules {finding.rule_ids})"
        return ExampleResult(sig, ex, expect_match, False, what)
    if expect_match and ex.egress is not None:
        hit = scanner.analyse(line, fmt)
        got = sorted({example_egress(d) for h in hit.hits if h.sig.id == sig.id for d in h.destinations})
        want = sorted(set(ex.egress))
        if got != want:
            return ExampleResult(sig, ex, expect_match, False, f"destinations {got} != expected {want}")
    return ExampleResult(sig, ex, expect_match, True)


def run_examples(sigs: SignatureSet, scanner: Scanner | None = None) -> list[ExampleResult]:
    scanner = scanner or Scanner(sigs, fast=False)
    out = []
    for sig in sigs.signatures:
        out.extend(run_example(scanner, sig, ex, True) for ex in sig.matches)
        out.extend(run_example(scanner, sig, ex, False) for ex in sig.no_matches)
    return out


def lint_all(sigs: SignatureSet, timeout: float = 1.0) -> list[str]:
    return [p for sig in sigs.signatures for p in lint_runtime(sig, timeout)]
