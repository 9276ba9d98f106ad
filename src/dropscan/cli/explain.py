"""``dropscan explain``: why a line did (or did not) produce a finding."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from .common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    BuiltinOpt,
    LogFormatOpt,
    SignaturesOpt,
    _Command,
    _epilog,
    _load_sigs,
    app,
)


@app.command(
    cls=_Command,
    epilog=_epilog(
        "dropscan explain '1.2.3.4 - - [27/Nov/2026:07:02:11 +0100] \"GET /?c=;wget%20h/x HTTP/1.1\" 404 1'",
        "grep wget access.log | dropscan explain - --json",
    ),
)
def explain(
    line: Annotated[
        str, typer.Argument(metavar="LINE", help="One log line, or - to explain each line read from stdin.")
    ],
    log_format: LogFormatOpt = None,
    signatures: SignaturesOpt = None,
    builtin: BuiltinOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show each decoding step, which signature matched on which view, and the destinations."""
    from ..detect.explain import explain_line, explain_text
    from ..detect.findings import SCHEMA_VERSION
    from ..detect.scanner import Scanner
    from ..engine import default_signatures
    from ..formats import compile_format
    from ..outputs.safety import term

    sigs = _load_sigs(signatures, builtin is not False) or default_signatures()
    scanner = Scanner(sigs)
    fmt = compile_format(log_format) if log_format else None
    lines = sys.stdin.buffer.read().splitlines() if line == "-" else [os.fsencode(line)]
    found = False
    for raw in lines:
        if not raw.strip():
            continue
        e = explain_line(raw, scanner, fmt)
        found = found or e["finding"] is not None
        if as_json:
            sys.stdout.write(json.dumps({"schema_version": SCHEMA_VERSION, **e}) + "\n")
        else:
            sys.stdout.write("\n".join(term(x) for x in explain_text(e).split("\n")) + "\n\n")
    raise typer.Exit(EXIT_FINDINGS if found else EXIT_CLEAN)
