"""``dropscan report``: the egress report (table, JSON, Markdown, HTML)."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from enum import StrEnum
from typing import Annotated

import typer

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
    _egress_report,
    _epilog,
    _err,
    _open_state,
    _preflight,
    _warn,
    app,
)


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"  # the same JSON document, on one line
    markdown = "markdown"
    html = "html"


_REPORT_EXT = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".jsonl": "jsonl",
}


def _exit_for(rep) -> None:
    for e in rep.errors:
        _err(e)
    raise typer.Exit(EXIT_ERROR if rep.errors else (EXIT_FINDINGS if rep.findings else EXIT_CLEAN))


@app.command(
    cls=_Command,
    epilog=_epilog(
        "dropscan report /var/log/apache2/",
        "dropscan report /var/log/apache2/ -f html -o report.html",
        "dropscan report /var/log/apache2/ --firewall-log /var/log/kern.log",
    ),
)
def report(
    paths: PathsArg,
    fmt: Annotated[
        ReportFormat | None,
        typer.Option("--format", "-f", help="[default: from -o's extension, else table on a terminal, else json]."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the report here; a short summary goes to stdout."),
    ] = None,
    host: HostOpt = None,
    host_from: HostFromOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    firewall_log: Annotated[
        list[str] | None,
        typer.Option(
            "--firewall-log",
            metavar="FILE",
            help="Kernel LOG lines (syslog, kern.log, ufw.log, journalctl -k); repeatable.",
        ),
    ] = None,
    window: Annotated[
        str,
        typer.Option("--window", metavar="DURATION", help="How long after a request an outbound packet confirms it."),
    ] = "10m",
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="USER", help="Only packets with this UID= confirm (a user name or uid)."),
    ] = None,
    firewall_tz: Annotated[
        str | None,
        typer.Option(
            "--firewall-tz",
            metavar="ZONE",
            help="Zone of firewall-log times without one [default: the access log's offset].",
        ),
    ] = None,
    defang: Annotated[
        bool | None,
        typer.Option(
            "--defang/--no-defang",
            help="hxxp://203.0.113[.]9 in human formats [default: defang in Markdown and HTML, not in the table].",
        ),
    ] = None,
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
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No output at all (no file either) when nothing new was found.")
    ] = False,
) -> None:
    """Per receiving host: does it need egress blocking, toward which destinations, and did a
    firewall log see it try."""
    from ..outputs.render import render, summary_lines
    from ..outputs.safety import term
    from ..report.fwlog import resolve_uid
    from ..timeutil import parse_duration, parse_tz

    to_file = bool(output and output != "-")
    out_format = (
        fmt.value
        if fmt
        else (_REPORT_EXT.get(os.path.splitext(output)[1].lower(), "table") if to_file else None)
        or ("table" if sys.stdout.isatty() else "json")
    )
    _preflight(paths, {"--output": output if to_file else None, "--state": state})
    st = _effective_settings(config, log_format, signatures, builtin, min_severity, category, jobs, host, defang=defang)
    defang = st["defang"] if st["defang"] is not None else out_format in ("markdown", "html")
    with ExitStack() as stack:
        stack.outputs = []
        inc = _open_state(stack, state, reset_state)
        run, rep = _egress_report(
            paths,
            st,
            (host_from, trusted_proxy),
            since,
            until,
            inc=inc,
            quiet=quiet,
            now=now,
            firewall_logs=firewall_log,
            window=parse_duration(window),
            uid=resolve_uid(user) if user else None,
            firewall_tz=parse_tz(firewall_tz) if firewall_tz else None,
        )
        if not (quiet and not rep.findings and not rep.errors):
            text = render(rep, out_format, defang)
            if to_file:
                _atomic(stack, output, "w", encoding="utf-8").write(text)
                _commit(stack)
                sys.stdout.write("\n".join([*summary_lines(rep, defang), f"report written to {term(output)}"]) + "\n")
            else:
                sys.stdout.write(text)
        if inc is not None:  # only once the report is written: a crash repeats, never loses
            inc.commit(run, outputs=[output if to_file else None])
            for w in inc.warnings:
                _warn(w)
    _exit_for(rep)
