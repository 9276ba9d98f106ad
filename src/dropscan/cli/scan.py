"""``dropscan scan``: findings as a table, JSONL, CSV, ECS or Parquet (also ``--follow``)."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from typing import Annotated

import typer

from ..errors import UsageError
from .common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    BuiltinOpt,
    CategoryOpt,
    ColorMode,
    ColorOpt,
    ConfigOpt,
    Engine,
    HostFromOpt,
    HostOpt,
    JobsOpt,
    LogFormatOpt,
    MinSeverityOpt,
    NowOpt,
    OutFormat,
    PathsArg,
    ResetStateOpt,
    SignaturesOpt,
    SinceOpt,
    StateOpt,
    TrustedProxyOpt,
    UntilOpt,
    _atomic,
    _color,
    _Command,
    _commit,
    _effective_settings,
    _epilog,
    _err,
    _finding_filter,
    _jobs,
    _load_sigma,
    _load_sigs,
    _open_state,
    _preflight,
    _progress,
    _settings,
    _unscanned_warner,
    _warn,
    app,
)


@app.command(
    cls=_Command,
    epilog=_epilog(
        "dropscan scan /var/log/apache2/       # table on a terminal, else JSON lines",
        "dropscan scan access.log.*.gz -f json -o findings.jsonl --summary s.json",
        "dropscan scan - < access.log",
        "dropscan scan /var/log/apache2/ --state /var/lib/dropscan/state.json --quiet",
    ),
)
def scan(
    paths: PathsArg,
    fmt: Annotated[
        OutFormat | None,
        typer.Option(
            "--format", "-f", help="Output format [default: table on a terminal, else jsonl; from -o's extension]."
        ),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", metavar="FILE", help="Write findings here (default stdout).")
    ] = None,
    log_format: LogFormatOpt = None,
    signatures: SignaturesOpt = None,
    builtin: BuiltinOpt = None,
    config: ConfigOpt = None,
    min_severity: MinSeverityOpt = None,
    category: CategoryOpt = None,
    now: NowOpt = None,
    host: HostOpt = None,
    host_from: HostFromOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    rejects: Annotated[
        str | None, typer.Option("--rejects", metavar="FILE", help="Write lines that are not records here, verbatim.")
    ] = None,
    summary: Annotated[
        str | None, typer.Option("--summary", metavar="FILE", help="Write the run summary (JSON) here.")
    ] = None,
    jobs: JobsOpt = None,
    defang: Annotated[
        bool | None,
        typer.Option("--defang/--no-defang", help="hxxp://203.0.113[.]9 in the table and CSV [default: no-defang]."),
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No output at all when nothing was found.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Parse every line (no prefilter); slower, same findings.")
    ] = False,
    engine: Annotated[Engine, typer.Option("--engine", help="local (process pool) or dask.")] = Engine.local,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="Dask scheduler address (tcp://host:8786) [default: a local cluster].",
        ),
    ] = None,
    state: StateOpt = None,
    reset_state: ResetStateOpt = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-F", help="Keep scanning as the logs grow, across rotation (stop with SIGTERM/^C)."),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", metavar="SECONDS", help="Seconds between polls with --follow.")
    ] = 1.0,
    color: ColorOpt = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            metavar="ZONE",
            help="Show table times in this zone (UTC, +01:00, Europe/Berlin) [default: the first finding's offset].",
        ),
    ] = None,
    sigma: Annotated[
        str | None,
        typer.Option(
            "--sigma",
            metavar="PATH",
            help="Also run the Sigma rules (category webserver) in this file or directory [dropscan[sigma]].",
        ),
    ] = None,
) -> None:
    """Scan access logs; print one finding per request that carried an injected command."""
    from ..engine import Scan, ScanOptions
    from ..outputs.writers import format_for, held_back_text, summary_text
    from ..timeutil import parse_tz, parse_when

    st = _effective_settings(
        config,
        log_format,
        signatures,
        builtin,
        min_severity,
        category,
        jobs,
        host,
        tz=tz,
        color=color or _settings["color"],
        defang=defang,
    )
    _settings["color"] = ColorMode(st["color"])
    show = {"defanged": bool(st["defang"]), "tz": parse_tz(st["tz"]) if st["tz"] else None, "host": st["host"]}
    out_format = "jsonl" if fmt == OutFormat.json else fmt.value if fmt else format_for(output, sys.stdout.isatty())
    if out_format == "parquet" and (not output or output == "-"):
        raise UsageError("--format parquet needs -o FILE")
    if follow and (out_format == "parquet" or summary):
        raise UsageError("--follow writes findings as they arrive: not with --format parquet or --summary")
    if interval <= 0:
        raise UsageError("--interval must be more than 0 seconds")
    if sigma and out_format == "parquet":
        raise UsageError("--sigma: the parquet schema's rule ids are the signature pack's; use jsonl, csv or ecs")
    if scheduler and engine != Engine.dask:
        raise UsageError("--scheduler needs --engine dask")
    if (state or follow) and engine == Engine.dask:
        raise UsageError("--state and --follow read on this machine: not with --engine dask")
    _preflight(
        paths,
        {"--output": output, "--rejects": rejects, "--summary": summary, "--state": state},
        parquet=out_format == "parquet",
        scheduler=scheduler if engine == Engine.dask else None,
    )
    opts = ScanOptions(
        log_format=st["log_format"],
        signatures=_load_sigs(st["signatures"], st["builtin_signatures"]),
        jobs=_jobs(st["jobs"]),
        fast=not full,
        keep_rejects=rejects is not None,
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        finding_filter=_finding_filter(st, now),
        trusted_proxies=tuple(trusted_proxy or ()),
        host=st["host"],
        host_from=host_from,
        sigma=_load_sigma(sigma) if sigma else None,
    )
    with ExitStack() as stack:
        stack.outputs = []
        # the lock first: a run that exits 75 must not have touched the running one's outputs
        inc = _open_state(stack, state, reset_state, follow=follow)
        if rejects:  # --follow writes as it goes, in place; a run writes a temp file renamed at the end
            rej_fh = stack.enter_context(open(rejects, "wb")) if follow else _atomic(stack, rejects, "wb")
        else:
            rej_fh = None
        on_reject = (lambda _p, line: rej_fh.write(line if line.endswith(b"\n") else line + b"\n")) if rej_fh else None
        if follow:
            raise typer.Exit(_follow(stack, paths, opts, inc, on_reject, rej_fh, out_format, output, show, interval))
        if engine == Engine.dask:
            from ..dask import DaskScan

            run = DaskScan(paths, opts, on_reject=on_reject, scheduler=scheduler)
        else:
            run = inc.scan(paths, opts, on_reject) if inc else Scan(paths, opts, on_reject=on_reject)
        run.on_unscanned = _unscanned_warner()
        writer = None
        count = 0
        run.on_progress = _progress(stack, quiet, sys.stdout if output in (None, "-") else None)
        for finding in run:
            if writer is None:
                writer = _open_writer(stack, out_format, output, show, opts)
            writer.write(finding)
            count += 1
        if writer is None and not quiet and out_format in ("csv", "parquet") and output:
            writer = _open_writer(stack, out_format, output, show, opts)  # an empty file with the header
        if writer is not None:
            if out_format == "table" and opts.finding_filter is not None:  # a cron mail says what it held back
                writer.note(held_back_text(opts.finding_filter.summary()))
            writer.close()
        _commit(stack)
        if inc is not None:  # only now that the output is written: a crash repeats, never loses
            inc.commit(run, outputs=[output, rejects])
            for w in inc.warnings:
                _warn(w)
        result = run.summary()
        if summary:
            from ..detect.findings import SCHEMA_VERSION

            fh = _atomic(stack, summary, "w", encoding="utf-8")
            json.dump({"schema_version": SCHEMA_VERSION, **result}, fh, indent=2)
            fh.write("\n")
            _commit(stack)
    errors = result["errors"]
    for e in errors:  # each failure one line, first
        _err(e)
    # then what was covered, on a terminal and in a cron mail alike (--quiet: only with findings)
    if (count or not quiet) and result["totals"]["files"]:
        sys.stderr.write(summary_text(result) + "\n")
    raise typer.Exit(EXIT_ERROR if errors else (EXIT_FINDINGS if count else EXIT_CLEAN))


def _follow(stack, paths, opts, inc, on_reject, rej_fh, out_format, output, show, interval) -> int:
    """``scan --follow``: poll until SIGTERM/SIGINT, which end it cleanly after the current poll."""
    import signal

    from ..follow import SignalStop, follow

    writers = []

    def emit(finding) -> None:
        if not writers:
            writers.append(_open_writer(stack, out_format, output, show, opts, live=True))
        writers[0].write(finding)

    def flush() -> None:
        for w in writers:
            w.flush()
        if rej_fh:
            rej_fh.flush()

    stop = SignalStop()
    previous = {sig: signal.signal(sig, stop.set) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        result = follow(
            paths,
            opts,
            inc,
            emit,
            flush,
            stop=stop,
            interval=interval,
            on_error=_err,
            on_warning=_warn,
            on_unscanned=_unscanned_warner(),
            on_reject=on_reject,
            outputs=[output, rej_fh and rej_fh.name],
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_ERROR if result.errors else (EXIT_FINDINGS if result.findings else EXIT_CLEAN)


def _open_writer(stack: ExitStack, out_format: str, output: str | None, show: dict, opts, live: bool = False):
    """The writer for ``output``: a temp file renamed into place at the end, or with ``live``
    (``--follow``) the file itself, written as findings arrive. ``show`` holds how humans see
    findings: defanged, tz, host."""
    from ..outputs.writers import CsvWriter, JsonlWriter, ParquetWriter, TableWriter
    from ..report.hosts import HostRule

    defanged = show["defanged"]
    if out_format == "parquet":
        return ParquetWriter(_atomic(stack, output, "wb"), opts.sigs())
    if output and output != "-":
        kw = {"encoding": "utf-8", "newline": ""}
        stream = stack.enter_context(open(output, "w", **kw)) if live else _atomic(stack, output, "w", **kw)
    else:
        stream = sys.stdout
    if out_format == "table":
        return TableWriter(
            stream, defanged=defanged, color=_color(stream), tz=show["tz"], host_rule=HostRule(show["host"])
        )
    if out_format == "csv":
        return CsvWriter(stream, defanged=defanged)
    if out_format == "ecs":
        from ..exports.ecs import EcsWriter

        return EcsWriter(stream, opts.sigs())
    return JsonlWriter(stream)
