"""``dropscan rules``: firewall rules (ufw, iptables, nftables) from the egress report."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from enum import StrEnum
from typing import Annotated

import typer

from ..errors import UsageError
from .common import (
    EXIT_CLEAN,
    EXIT_ERROR,
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
    SignaturesOpt,
    TrustedProxyOpt,
    _atomic,
    _Command,
    _commit,
    _effective_settings,
    _egress_report,
    _epilog,
    _err,
    _preflight,
    app,
)


class Firewall(StrEnum):
    ufw = "ufw"
    iptables = "iptables"
    nftables = "nftables"


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
    from ..outputs.safety import term
    from ..report.rules import IPTABLES_FAMILY, RPZ_FILE, check_user, egress_rules

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
