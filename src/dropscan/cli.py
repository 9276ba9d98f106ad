"""The ``dropscan`` command line: a thin typer layer over the library.

Exit codes (`EXIT_CODES`, also in ``--help``): 0 nothing found, 1 findings, 2 a usage, input or
output error (one line on stderr, never a traceback; readable inputs are still scanned and
reported, marked INCOMPLETE), 75 another run holds the lock, 130 interrupted, 3 a bug.

Outputs are checked before anything is read (`dropscan.outfiles.check_outputs`: never an input,
never inside an input directory, writable), the state lock is taken before any output is opened,
and every output file is written to a temporary file and renamed into place on success.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from enum import StrEnum
from typing import Annotated, TextIO

import typer
import typer.core

from .errors import DropscanError, LockedError, UsageError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_BUG, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 75, 130
EXIT_CODES = (
    (EXIT_CLEAN, "nothing found"),
    (EXIT_FINDINGS, "findings"),
    (EXIT_ERROR, "usage, input or output error; results of what was read are still written, INCOMPLETE"),
    (EXIT_BUG, "internal error (a bug: please report it)"),
    (EXIT_LOCKED, "another run holds the --state lock"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)


def _epilog(*examples: str) -> str:
    """Examples, then the exit codes; ``\\b`` keeps click from re-wrapping the lines."""
    lines = ["\b", "Examples:", *(f"  {e}" for e in examples), ""] if examples else []
    lines += ["\b", "Exit codes:"]
    return "\n".join(lines + [f"  {code:<3} {text}" for code, text in EXIT_CODES])


class _Argument(typer.core.TyperArgument):
    """An argument shown by its metavar (``PATHS...``) and never by its Python type
    (typer would print ``paths... <list[str]>`` and ``{paths}...``)."""

    def display_type_rich(self, ctx):
        return None

    def _usage_display_name(self) -> str:
        return self.metavar or super()._usage_display_name()


class _Command(typer.core.TyperCommand):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for p in self.params:
            if type(p) is typer.core.TyperArgument:
                p.__class__ = _Argument


class _Group(typer.core.TyperGroup):
    """Broken pipe (``dropscan signatures list | head``) ends the run quietly with exit 0: the
    reader had enough. Click would exit 1 for it."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
            raise typer.Exit(EXIT_CLEAN) from None


app = typer.Typer(
    name="dropscan",
    cls=_Group,
    help="Find download-and-execute attacks in Apache access logs, and the outbound destinations they need.",
    epilog=_epilog(
        "dropscan scan /var/log/apache2/",
        "dropscan scan access.log.*.gz -f json -o findings.jsonl",
        "dropscan report /var/log/apache2/ -f html -o report.html",
        "dropscan rules --firewall nftables /var/log/apache2/",
        "dropscan explain - < suspicious-lines.log",
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(cls=_Group, help="Show the effective settings.", no_args_is_help=True, rich_markup_mode=None)
sig_app = typer.Typer(cls=_Group, help="List and test signature packs.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(sig_app, name="signatures")
app.add_typer(config_app, name="config")


class ColorMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


_settings: dict[str, ColorMode | None] = {"color": None}  # the global --color, then the effective one


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"dropscan {version('dropscan')}\n")
        raise typer.Exit(EXIT_CLEAN)


_COLOR_HELP = "Colour: auto (on a terminal, unless NO_COLOR is set or TERM=dumb), always, never."
ColorOpt = Annotated[ColorMode | None, typer.Option("--color", help=_COLOR_HELP + " [default: auto]")]


@app.callback()
def _main(
    color: Annotated[ColorMode | None, typer.Option("--color", help=_COLOR_HELP + " [default: auto]")] = None,
    _show_version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    _settings["color"] = color


class OutFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    json = "json"  # JSON lines, under the name other tools use
    csv = "csv"
    parquet = "parquet"
    ecs = "ecs"


class Engine(StrEnum):
    local = "local"
    dask = "dask"


class ListFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    json = "json"  # JSON lines


def _err(msg: str) -> None:
    from .safety import term

    sys.stderr.write(f"dropscan: error: {term(msg)}\n")


def _warn(msg: str) -> None:
    from .safety import term

    sys.stderr.write(f"dropscan: warning: {term(msg)}\n")


WARN_UNSCANNED = 20  # lines named on stderr per run; the summary counts them all


def _unscanned_warner():
    """A callback naming on stderr each line a deterministic bound stopped short (its finding
    says so too), the first `WARN_UNSCANNED` of them."""
    seen = [0]

    def warn(f) -> None:
        seen[0] += 1
        if seen[0] <= WARN_UNSCANNED:
            _warn(
                f"{f.log_file}:{f.line_no}: not scanned to the end ({', '.join(f.unscanned)}): an 'unscanned' finding"
            )
        elif seen[0] == WARN_UNSCANNED + 1:
            _warn("more lines were not scanned to the end: the summary counts them ('unscanned')")

    return warn


def _color(stream: TextIO) -> bool:
    """``--color``: always, never, or auto (a terminal, ``NO_COLOR`` unset or empty, ``TERM`` not dumb)."""
    mode = _settings["color"] or ColorMode.auto
    if mode != ColorMode.auto:
        return mode == ColorMode.always
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _load_sigs(paths: list[str] | None, builtin: bool = True):
    """The signature pack of a run: the built-in one plus every ``--signatures`` pack, or only
    those with ``--no-builtin``. None: the built-in pack alone (cached)."""
    from .engine import default_signatures
    from .signatures import SignatureSet, load_documents

    if not paths:
        if not builtin:
            raise UsageError("--no-builtin needs --signatures DIR (there would be no signatures)")
        return None
    docs = [d for p in paths for d in load_documents(p)]
    known = default_signatures().documents if builtin else []  # its patterns compile on first use
    return SignatureSet(known + docs, len(known))


def _open_state(stack: ExitStack, state: str | None, reset_state: bool, follow: bool = False):
    """The cron state (locked) for this run, or None; ``--follow`` keeps its position in memory
    without ``--state``. ``--reset-state`` without a state file is a mistake, never a silent no-op."""
    if reset_state and not state:
        raise UsageError("--reset-state needs --state FILE")
    if not (state or follow):
        return None
    from .state import Incremental

    return stack.enter_context(Incremental(state, reset=reset_state))


def _effective_settings(
    config: str | None, log_format, signatures, builtin, min_severity, category, jobs, host, **more
):
    """Effective settings: the command line, else the config file, else the defaults (the
    options every scanning command shares, then ``more``)."""
    from .config import Settings, locate

    cli = {
        "log_format": log_format,
        "signatures": signatures,
        "builtin_signatures": builtin,
        "min_severity": min_severity,
        "categories": category,
        "jobs": jobs,
        "host": host,
        **more,
    }
    return Settings(locate(config), cli)


def _finding_filter(st, now: str | None):
    """``--min-severity``, ``--category`` and the suppressions, or None when none is set."""
    from .hosts import HostRule
    from .suppress import FindingFilter
    from .timeutil import parse_when

    f = FindingFilter(
        st["min_severity"], st["categories"], st.suppressions, HostRule(st["host"]), parse_when(now) if now else None
    )
    return f if f.active else None


def _preflight(paths: list[str], outputs: dict[str, str | None], parquet: bool = False, scheduler=None) -> None:
    """What can be checked before scanning: outputs (never an input, writable), pyarrow for
    Parquet, a --scheduler that answers."""
    from .outfiles import check_outputs

    check_outputs(outputs, paths)
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("--format parquet needs pyarrow: pip install 'dropscan[parquet]'") from None
    if scheduler:
        from .dask import reachable

        reachable(scheduler)


def _atomic(stack: ExitStack, path: str, mode: str, **kwargs):
    """A file object that replaces ``path`` only when the run succeeds (see `dropscan.outfiles`)."""
    from .outfiles import AtomicOutput

    out = AtomicOutput(path, mode, **kwargs)
    stack.push(out)
    stack.outputs.append(out)  # committed explicitly, before the state records the run
    return out.fh


def _commit(stack: ExitStack) -> None:
    for out in stack.outputs:
        out.commit()


def _load_sigma(path: str):
    """The Sigma rules of ``scan --sigma``; each rule that cannot run is named once, on stderr."""
    from .sigma.load import load_rules

    pack = load_rules(path)
    for f, rule, why in pack.not_applicable:
        _warn(f"Sigma rule {rule} ({f}) not applicable: {why}")
    return pack


def _jobs(value: int | None) -> int:
    if value is None:
        return os.cpu_count() or 1
    if value < 1:
        raise UsageError("--jobs must be at least 1")
    return value


# --- scan ------------------------------------------------------------------------------------
# Options shared by several commands, declared once.
PathsArg = Annotated[
    list[str], typer.Argument(metavar="PATHS...", help="Log files, directories, globs, or - for stdin.")
]
LogFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        "-l",
        metavar="FORMAT",
        help="combined, vhost_combined, common, vhost_common, lighttpd, json (json:caddy, json:traefik, "
        "json:ecs, json:nginx; json:KEY=NAME,... to map fields), w3c (IIS), cloudfront, alb, elb, haproxy, "
        "envoy, an Apache LogFormat string or an nginx log_format string [default: detected per file].",
    ),
]
HostFromOpt = Annotated[
    str | None,
    typer.Option(
        "--host-from",
        metavar="PATTERN",
        help="Path pattern naming the receiving host of logs that log none, e.g. 'logs/{host}/*' "
        "('*' one path part, '**' any).",
    ),
]
TrustedProxyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-proxy",
        metavar="CIDR",
        help="Your proxies (CIDR, repeatable): client_ip is the first address from the right of "
        "X-Forwarded-For that is not one of them [default: none, client_ip is the peer].",
    ),
]
SignaturesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--signatures",
        "-s",
        metavar="DIR",
        help="A directory (or file) of YAML signatures added to the built-in pack; repeatable.",
    ),
]
BuiltinOpt = Annotated[
    bool | None,
    typer.Option("--builtin/--no-builtin", help="--no-builtin: only the --signatures packs [default: builtin]."),
]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Config file [default: ./dropscan.toml, else dropscan.toml in the user config dir].",
    ),
]
MinSeverityOpt = Annotated[
    str | None,
    typer.Option(
        "--min-severity", metavar="LEVEL", help="Only findings this severe or more: low, medium, high, critical."
    ),
]
CategoryOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--category",
        metavar="NAME",
        help="Only this category (dropper, reverse-shell, jndi, shellshock, rfi, ssrf, expression, rce, "
        "rce-probe, sigma, unscanned); repeatable.",
    ),
]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        metavar="TIME",
        help="What expiring suppressions compare findings without a timestamp with [default: such findings are "
        "never suppressed]. Timed findings use their own time.",
    ),
]
HostOpt = Annotated[
    str | None,
    typer.Option(
        "--host",
        metavar="NAME",
        help="Receiving host for logs that log none [default: --host-from, else from the path, see docs/report.md].",
    ),
]
JobsOpt = Annotated[
    int | None, typer.Option("--jobs", "-j", metavar="N", help="Worker processes [default: all cores].")
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", metavar="TIME", help="Only findings at or after this time (24h, 7d, ISO).")
]
UntilOpt = Annotated[str | None, typer.Option("--until", metavar="TIME", help="Only findings before this time.")]
StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state", metavar="FILE", help="Read only what is new since the last run with this state file (cron)."
    ),
]
ResetStateOpt = Annotated[
    bool, typer.Option("--reset-state", help="Forget the --state file's positions: read every log from the start.")
]


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
    from .engine import Scan, ScanOptions
    from .output import format_for, held_back_text, summary_text
    from .timeutil import parse_tz, parse_when

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
            from .dask import DaskScan

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
            from .findings import SCHEMA_VERSION

            fh = _atomic(stack, summary, "w", encoding="utf-8")
            json.dump({"schema_version": SCHEMA_VERSION, **result}, fh, indent=2)
            fh.write("\n")
            _commit(stack)
    errors = result["errors"]
    if sys.stderr.isatty() and not (quiet and not count and not errors):
        sys.stderr.write(summary_text(result) + "\n")
    else:
        for e in errors:
            _err(e)
    raise typer.Exit(EXIT_ERROR if errors else (EXIT_FINDINGS if count else EXIT_CLEAN))


def _follow(stack, paths, opts, inc, on_reject, rej_fh, out_format, output, show, interval) -> int:
    """``scan --follow``: poll until SIGTERM/SIGINT, which end it cleanly after the current poll."""
    import signal

    from .follow import SignalStop, follow

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
    from .hosts import HostRule
    from .output import CsvWriter, JsonlWriter, ParquetWriter, TableWriter

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
        from .exports.ecs import EcsWriter

        return EcsWriter(stream, opts.sigs())
    return JsonlWriter(stream)


# --- report and rules ----------------------------------------------------------------------------
class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"  # the same JSON document, on one line
    markdown = "markdown"
    html = "html"


class Firewall(StrEnum):
    ufw = "ufw"
    iptables = "iptables"
    nftables = "nftables"


_REPORT_EXT = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".jsonl": "jsonl",
}


def _findings_run(paths, st, hosts=(None, None), since=None, until=None, inc=None, now=None):
    """Which findings: a Scan with the settings ``st``, incremental with ``inc`` (shared by
    report, rules and iocs). ``hosts``: (--host-from, --trusted-proxy)."""
    from .engine import Scan, ScanOptions
    from .timeutil import parse_when

    opts = ScanOptions(
        log_format=st["log_format"],
        signatures=_load_sigs(st["signatures"], st["builtin_signatures"]),
        jobs=_jobs(st["jobs"]),
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        finding_filter=_finding_filter(st, now),
        host=st["host"],
        host_from=hosts[0],
        trusted_proxies=tuple(hosts[1] or ()),
    )
    run = inc.scan(paths, opts) if inc else Scan(paths, opts)
    run.on_unscanned = _unscanned_warner()
    return run


def _egress_report(paths, st, hosts=(None, None), since=None, until=None, inc=None, quiet=False, now=None, **firewall):
    """The two steps every egress command shares: which findings, then the report (with a
    progress line on a terminal). Returns (run, report)."""
    from .report import build_report

    run = _findings_run(paths, st, hosts, since, until, inc, now)
    with ExitStack() as stack:
        run.on_progress = _progress(stack, quiet)
        rep = build_report(run, host=st["host"], scan_summary=run.summary, **firewall)
    return run, rep


def _progress(stack: ExitStack, quiet: bool, out: TextIO | None = None):
    """``Scan.on_progress`` drawing the progress line, for a person at a terminal only (stderr a
    TTY, no ``--quiet``), else None; rich's live display is imported only then. ``out``: the
    findings' stream, when it may be the same terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from .progress import ScanProgress

    return stack.enter_context(ScanProgress(sys.stderr, out, _color(sys.stderr))).update


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
    from .fwlog import resolve_uid
    from .render import render, summary_lines
    from .safety import term
    from .timeutil import parse_duration, parse_tz

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


@app.command(
    cls=_Command,
    epilog=_epilog(
        "dropscan rules --firewall nftables /var/log/apache2/",
        "dropscan rules --firewall ufw --allow-dns -d rules/ /var/log/apache2/",
    ),
)
def rules(
    paths: PathsArg,
    firewall: Annotated[Firewall, typer.Option("--firewall", help="Which firewall's syntax to write.")],
    user: Annotated[
        str, typer.Option("--user", metavar="USER", help="The web server's user (name or uid).")
    ] = "www-data",
    allow_dns: Annotated[bool, typer.Option("--allow-dns", help="Let the web user resolve names (port 53).")] = False,
    output_dir: Annotated[
        str | None, typer.Option("--output-dir", "-d", metavar="DIR", help="Write each rules file into this directory.")
    ] = None,
    family: Annotated[
        int | None,
        typer.Option(
            "--family",
            metavar="4|6",
            help="iptables: write only the IPv4 (4) or IPv6 (6) file, loadable as is by *-restore.",
        ),
    ] = None,
    include_unparsed: Annotated[
        bool,
        typer.Option(
            "--include-unparsed",
            help="Also reject addresses seen only on lines that were not parsed as requests (labelled).",
        ),
    ] = False,
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
) -> None:
    """Scan, then print firewall rules to paste: default-deny outbound for the web user, and
    rejects for every IP a payload named (see docs/report.md). Exits 0 when it wrote the rules,
    2 when an input could not be read (the rules then say INCOMPLETE)."""
    from .rules import IPTABLES_FAMILY, RPZ_FILE, check_user, egress_rules
    from .safety import term

    check_user(user)
    if family is not None and (firewall != Firewall.iptables or family not in IPTABLES_FAMILY):
        raise UsageError("--family takes 4 or 6, with --firewall iptables")
    if firewall == Firewall.iptables and family is None and not output_dir:
        raise UsageError("iptables-restore loads one family per file: give --family 4 or 6, or --output-dir DIR")
    if output_dir:
        probe = os.path.join(output_dir, "rules") if os.path.isdir(output_dir) else output_dir
        _preflight(paths, {"--output-dir": probe})
    st = _effective_settings(config, log_format, signatures, builtin, min_severity, category, jobs, host)
    _run, rep = _egress_report(paths, st, (host_from, trusted_proxy), now=now)
    files = egress_rules(rep, firewall.value, user, allow_dns, include_unparsed)
    if family is not None:
        files = {k: v for k, v in files.items() if k in (IPTABLES_FAMILY[family], RPZ_FILE)}
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        with ExitStack() as stack:
            stack.outputs = []
            for name, text in files.items():
                _atomic(stack, os.path.join(output_dir, name), "w", encoding="utf-8").write(text)
            _commit(stack)
        for name in files:
            sys.stdout.write(f"wrote {term(os.path.join(output_dir, name))}\n")
    else:  # stdout stays loadable by the firewall: the RPZ zone's records are in its header
        files.pop(RPZ_FILE, None)
        for i, (name, text) in enumerate(files.items()):
            if len(files) > 1:
                sys.stdout.write(("\n" if i else "") + f"# ===== {name} =====\n")
            sys.stdout.write(text)
    for e in rep.errors:
        _err(e)
    raise typer.Exit(EXIT_ERROR if rep.errors else EXIT_CLEAN)


# --- iocs --------------------------------------------------------------------------------------
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
    from .exports import text
    from .exports.indicators import collect
    from .extras import require
    from .hosts import HostRule
    from .safety import term

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
            from .exports.stix import bundle

            out = bundle(found, sigs, tlp.value).serialize(pretty=True) + "\n"
        elif fmt is IocFormat.misp:
            from .exports.misp import event, to_json

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


# --- explain -------------------------------------------------------------------------------------
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
    from .engine import default_signatures
    from .explain import explain_line, explain_text
    from .findings import SCHEMA_VERSION
    from .formats import compile_format
    from .safety import term
    from .scanner import Scanner

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


# --- signatures ----------------------------------------------------------------------------------
@sig_app.command(
    "list", cls=_Command, epilog=_epilog("dropscan signatures list | head", "dropscan signatures list my-pack/ -f json")
)
def signatures_list(
    path: Annotated[
        str | None, typer.Argument(metavar="[PACK]", help="Signature directory or file [default: built-in].")
    ] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.table,
) -> None:
    """List the signatures of a pack."""
    from .engine import default_signatures
    from .findings import SCHEMA_VERSION
    from .signatures import SignatureSet

    sigs = SignatureSet.load(path) if path else default_signatures()
    if fmt in (ListFormat.jsonl, ListFormat.json):
        for s in sigs.signatures:
            sys.stdout.write(
                json.dumps(
                    {
                        "schema_version": SCHEMA_VERSION,
                        "id": s.id,
                        "name": s.name,
                        "category": s.category,
                        "severity": s.severity,
                        "egress": s.egress,
                        "fields": sorted(s.fields),
                        "keywords": list(s.keywords),
                        "patterns": list(s.pattern_texts),
                        "references": list(s.references),
                        "tags": list(s.tags),
                        "source": s.source,
                        "examples": {"match": len(s.matches), "no_match": len(s.no_matches)},
                    }
                )
                + "\n"
            )
        return
    from .safety import term

    sys.stdout.write(f"{'ID':<34} {'CATEGORY':<13} {'SEVERITY':<8} {'EGRESS':<6} NAME\n")
    for s in sigs.signatures:  # a pack from elsewhere is text from elsewhere: names are escaped
        egress = "yes" if s.egress else "no"
        sys.stdout.write(f"{s.id:<34} {s.category:<13} {s.severity:<8} {egress:<6} {term(s.name)}\n")
    sys.stdout.write(f"{len(sigs)} signatures\n")


@sig_app.command("test", cls=_Command, epilog=_epilog("dropscan signatures test", "dropscan signatures test my-pack/"))
def signatures_test(
    path: Annotated[
        str | None, typer.Argument(metavar="[PACK]", help="Signature directory or file [default: built-in].")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Seconds a pattern may take on an adversarial input.")
    ] = 1.0,
) -> None:
    """Run every signature's examples through the pipeline and lint every pattern."""
    from .engine import default_signatures
    from .safety import term
    from .selftest import lint_all, run_examples
    from .signatures import SignatureSet

    sigs = SignatureSet.load(path) if path else default_signatures()
    results = run_examples(sigs)
    failures = [r for r in results if not r.ok]
    for r in failures:
        kind = "match" if r.expect_match else "no_match"
        sys.stdout.write(term(f"FAIL {r.sig.id} {kind} [{r.example.field}] {r.example.text!r}: {r.problem}") + "\n")
    lint = lint_all(sigs, timeout)
    for p in lint:
        sys.stdout.write(term(f"FAIL lint {p}") + "\n")
    sys.stdout.write(
        f"{len(sigs)} signatures, {len(results)} examples, {len(failures)} example failure(s), "
        f"{len(lint)} lint failure(s)\n"
    )
    raise typer.Exit(EXIT_FINDINGS if failures or lint else EXIT_CLEAN)


@sig_app.command(
    "export",
    cls=_Command,
    epilog=_epilog(
        "dropscan signatures export --sigma sigma-rules/", "dropscan signatures export my-pack/ --sigma out/"
    ),
)
def signatures_export(
    sigma: Annotated[
        str,
        typer.Option("--sigma", metavar="DIR", help="Write one Sigma rule (category webserver) per signature here."),
    ],
    path: Annotated[
        str | None, typer.Argument(metavar="[PACK]", help="Signature directory or file [default: built-in].")
    ] = None,
) -> None:
    """Write the signatures as Sigma rules for SIEMs (see docs/interop.md for what they lose)."""
    from .engine import default_signatures
    from .exports.sigma_export import export
    from .safety import term
    from .signatures import SignatureSet

    if path and os.path.exists(sigma) and os.path.samefile(os.path.realpath(path), os.path.realpath(sigma)):
        raise UsageError("--sigma: write the rules elsewhere than the signature pack they come from")
    sigs = SignatureSet.load(path) if path else default_signatures()
    written = export(sigs, sigma)
    sys.stdout.write(f"{len(written)} Sigma rule(s) from {len(sigs)} signature(s) written to {term(sigma)}\n")


# --- config ----------------------------------------------------------------------------------------
@config_app.command(
    "show", cls=_Command, epilog=_epilog("dropscan config show", "dropscan config show --config /etc/dropscan.toml")
)
def config_show(
    config: ConfigOpt = None,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.table,
) -> None:
    """Print every setting, its effective value and where it came from (default, which file)."""
    from .config import user_config_path
    from .findings import SCHEMA_VERSION
    from .safety import term

    st = _effective_settings(config, None, None, None, None, None, None, None)
    if fmt != ListFormat.table:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "config_file": st.path,
            "settings": {k: {"value": v, "from": src} for k, v, src in st.rows()},
            "suppressions": [
                {
                    "entry": x.number,
                    "reason": x.reason,
                    "expires": x.expires.isoformat(),
                    **{
                        k: str(getattr(x, k))
                        for k in ("rule", "category", "client", "path", "host", "destination")
                        if getattr(x, k) is not None
                    },
                }
                for x in st.suppressions
            ],
        }
        sys.stdout.write(json.dumps(doc) + "\n")
        return
    where = term(st.path) if st.path else f"none (looked for ./dropscan.toml and {term(user_config_path())})"
    sys.stdout.write(f"config file: {where}\n\n")
    sys.stdout.write(f"{'KEY':<20} {'VALUE':<28} FROM\n")
    for k, v, src in st.rows():
        shown = "(unset)" if v is None else v if isinstance(v, str) else json.dumps(v)
        sys.stdout.write(f"{k:<20} {term(shown):<28} {term(src)}\n")
    sys.stdout.write(f"\n{len(st.suppressions)} suppression(s)\n")
    for x in st.suppressions:
        covers = ", ".join(
            f"{k}={getattr(x, k)}"
            for k in ("rule", "category", "client", "path", "host", "destination")
            if getattr(x, k) is not None
        )
        sys.stdout.write(term(f"  #{x.number} {covers}; until {x.expires.isoformat()}; reason: {x.reason}") + "\n")


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


@app.command(
    cls=_Command,
    epilog=_epilog(
        "dropscan completion bash > ~/.local/share/bash-completion/completions/dropscan",
        'dropscan completion zsh > "${fpath[1]}/_dropscan"',
        "dropscan completion fish > ~/.config/fish/completions/dropscan.fish",
    ),
)
def completion(shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh, fish or powershell.")]) -> None:
    """Print the shell completion script (or let --install-completion install it for this shell)."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="dropscan", complete_var="_DROPSCAN_COMPLETE", shell=shell.value)
    sys.stdout.write(script + "\n")


def main() -> None:
    """Console entry point: map errors to exit codes, one line each, no tracebacks."""
    try:
        app(prog_name="dropscan")
    except LockedError as e:
        _err(str(e))
        sys.exit(EXIT_LOCKED)
    except DropscanError as e:
        _err(str(e))
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        finally:
            sys.exit(EXIT_CLEAN)
    except OSError as e:  # the environment (disk full, read-only, gone), not a bug: one line
        where = e.filename if e.filename is not None else "output"
        _err(f"{where}: {e.strerror or e}")
        sys.exit(EXIT_ERROR)
    except Exception as e:
        if os.environ.get("DROPSCAN_DEBUG"):
            raise
        _err(f"internal error: {type(e).__name__}: {e} (set DROPSCAN_DEBUG=1 for a traceback)")
        sys.exit(EXIT_BUG)
