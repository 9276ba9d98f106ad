"""What the commands share: the typer apps, exit codes, messages, option types and the run helpers."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from enum import StrEnum
from typing import Annotated, TextIO

import typer
import typer.core

from ..errors import UsageError

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
    from ..outputs.safety import term

    sys.stderr.write(f"dropscan: error: {term(msg)}\n")


def _warn(msg: str) -> None:
    from ..outputs.safety import term

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
    from ..detect.signatures import SignatureSet, load_documents
    from ..engine import default_signatures

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
    from ..state.incremental import Incremental

    return stack.enter_context(Incremental(state, reset=reset_state))


def _effective_settings(
    config: str | None, log_format, signatures, builtin, min_severity, category, jobs, host, **more
):
    """Effective settings: the command line, else the config file, else the defaults (the
    options every scanning command shares, then ``more``)."""
    from ..config import Settings, locate

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
    from ..report.hosts import HostRule
    from ..report.suppress import FindingFilter
    from ..timeutil import parse_when

    f = FindingFilter(
        st["min_severity"], st["categories"], st.suppressions, HostRule(st["host"]), parse_when(now) if now else None
    )
    return f if f.active else None


def _preflight(paths: list[str], outputs: dict[str, str | None], parquet: bool = False, scheduler=None) -> None:
    """What can be checked before scanning: outputs (never an input, writable), pyarrow for
    Parquet, a --scheduler that answers."""
    from ..outputs.outfiles import check_outputs

    check_outputs(outputs, paths)
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("--format parquet needs pyarrow: pip install 'dropscan[parquet]'") from None
    if scheduler:
        from ..dask import reachable

        reachable(scheduler)


def _atomic(stack: ExitStack, path: str, mode: str, **kwargs):
    """A file object that replaces ``path`` only when the run succeeds (see `dropscan.outputs.outfiles`)."""
    from ..outputs.outfiles import AtomicOutput

    out = AtomicOutput(path, mode, **kwargs)
    stack.push(out)
    stack.outputs.append(out)  # committed explicitly, before the state records the run
    return out.fh


def _commit(stack: ExitStack) -> None:
    for out in stack.outputs:
        out.commit()


def _load_sigma(path: str):
    """The Sigma rules of ``scan --sigma``; each rule that cannot run is named once, on stderr."""
    from ..detect.sigma.load import load_rules

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


def _findings_run(paths, st, hosts=(None, None), since=None, until=None, inc=None, now=None):
    """Which findings: a Scan with the settings ``st``, incremental with ``inc`` (shared by
    report, rules and iocs). ``hosts``: (--host-from, --trusted-proxy)."""
    from ..engine import Scan, ScanOptions
    from ..timeutil import parse_when

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
    from ..report.egress_report import build_report

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
    from ..outputs.progress import ScanProgress

    return stack.enter_context(ScanProgress(sys.stderr, out, _color(sys.stderr))).update
