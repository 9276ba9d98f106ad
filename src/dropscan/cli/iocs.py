"""``dropscan iocs``: the destinations as indicators (STIX, MISP, CSV, text)."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from enum import StrEnum
from typing import Annotated

import typer

from ..errors import UsageError
from .common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    BuiltinOpt,
    CategoryOpt,
    ConfigOpt,
    HostFromOpt,
    HostOpt,
    JobsOpt,
    LogFormatOpt,
    MinSeverityOpt,
    NowOpt,
    PathsArg,
    ResetStateOpt,
    SignaturesOpt,
    SinceOpt,
    StateOpt,
    TrustedProxyOpt,
    UntilOpt,
    _atomic,
    _Command,
    _commit,
    _effective_settings,
    _epilog,
    _err,
    _findings_run,
    _open_state,
    _preflight,
    _warn,
    app,
)


class IocFormat(StrEnum):
    stix = "stix"
    misp = "misp"
    csv = "csv"
    txt = "txt"


class IocKind(StrEnum):
    ip = "ip"
    domain = "domain"


class Tlp(StrEnum):
    clear = "clear"
    green = "green"
    amber = "amber"
    red = "red"


@app.command(
    cls=_Command,
    epilog=_epilog(
        "dropscan iocs /var/log/apache2/ -f txt --only ip > blocklist.txt",
        "dropscan iocs /var/log/apache2/ -f stix -o indicators.json",
    ),
)
def iocs(
    paths: PathsArg,
    fmt: Annotated[IocFormat, typer.Option("--format", "-f", help="stix (2.1 bundle), misp (event JSON), csv, txt.")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", metavar="FILE", help="Write here (default stdout).")
    ] = None,
    only: Annotated[
        IocKind | None, typer.Option("--only", help="Only IP literals or only names (txt and csv).")
    ] = None,
    tlp: Annotated[Tlp, typer.Option("--tlp", help="TLP marking of STIX and MISP output.")] = Tlp.amber,
    host: HostOpt = None,
    host_from: HostFromOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    log_format: LogFormatOpt = None,
    signatures: SignaturesOpt = None,
    builtin: BuiltinOpt = None,
    config: ConfigOpt = None,
    min_severity: MinSeverityOpt = None,
    category: CategoryOpt = None,
    now: NowOpt = None,
    jobs: JobsOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    state: StateOpt = None,
    reset_state: ResetStateOpt = False,
) -> None:
    """The destinations found, as indicators of compromise for threat-intel platforms and
    blocklists (STIX 2.1 and MISP need dropscan[intel]); see docs/interop.md."""
    from ..exports import text
    from ..exports.indicators import collect
    from ..extras import require
    from ..outputs.safety import term
    from ..report.hosts import HostRule

    if fmt in (IocFormat.stix, IocFormat.misp):  # before scanning: a missing extra costs nothing
        require({"stix": "stix2", "misp": "pymisp"}[fmt.value], "intel", f"{fmt.value.upper()} output")
        if only:
            raise UsageError("--only applies to -f txt and csv")
    _preflight(paths, {"--output": output, "--state": state})
    with ExitStack() as stack:
        stack.outputs = []
        inc = _open_state(stack, state, reset_state)
        st = _effective_settings(config, log_format, signatures, builtin, min_severity, category, jobs, host)
        run = _findings_run(paths, st, (host_from, trusted_proxy), since, until, inc, now)
        findings = list(run)
        found = collect(findings, HostRule(st["host"]))
        sigs = run.options.sigs()
        kind = only.value if only else None
        if fmt is IocFormat.stix:
            from ..exports.stix import bundle

            out = bundle(found, sigs, tlp.value).serialize(pretty=True) + "\n"
        elif fmt is IocFormat.misp:
            from ..exports.misp import event, to_json

            out = to_json(event(found, findings, sigs, tlp.value))
        elif fmt is IocFormat.csv:
            out = text.to_csv(found, kind)
        else:
            out = text.txt(found, kind)
        if output and output != "-":
            _atomic(stack, output, "w", encoding="utf-8").write(out)
            _commit(stack)
        else:
            sys.stdout.write(out)
        if inc is not None:
            inc.commit(run, outputs=[output if output and output != "-" else None])
            for w in inc.warnings:
                _warn(w)
    result = run.summary()
    t = result["totals"]
    sys.stderr.write(
        f"dropscan: {len(found.actionable)} indicator(s) from {found.findings} finding(s) "
        f"({found.with_destinations} naming a destination) in {t['files']} file(s), {t['lines']:,} lines"
        + (
            f"; {len(found.internal)} private/reserved destination(s) not exported as indicators"
            if found.internal
            else ""
        )
        + (f"; {found.unparsed} finding(s) on lines that are not requests give none" if found.unparsed else "")
        + (f"; written to {term(output)}" if output and output != "-" else "")
        + "\n"
    )
    for e in result["errors"]:
        _err(e)
    raise typer.Exit(EXIT_ERROR if result["errors"] else (EXIT_FINDINGS if found.findings else EXIT_CLEAN))
