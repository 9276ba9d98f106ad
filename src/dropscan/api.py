"""The Python API: the same scan the CLI runs, as findings or as a DataFrame.

    import dropscan
    for f in dropscan.scan("/var/log/apache2/"):
        print(f.client_ip, f.rule_ids, [d.endpoint() for d in f.egress])
    df = dropscan.scan_frame("/var/log/apache2/")      # one row per finding, fixed schema
    hosts, dests = dropscan.report_frames("/var/log/apache2/", firewall_logs=["/var/log/kern.log"])

pandas is imported only by the frame functions, so the CLI and ``scan()`` stay fast to start.

Never silent: `scan_frame`, `egress_report` and `report_frames` raise `InputError` when no input
could be read, and warn with `IncompleteScanWarning` when some could not (the results then
cover only the rest); the per-file summary is ``df.attrs["summary"]`` (``Report.scan``). After
iterating `scan`, check ``.summary()["complete"]`` yourself.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from .detect.signatures import SignatureSet
from .engine import Scan, ScanOptions
from .errors import IncompleteScanWarning, InputError

if TYPE_CHECKING:
    import pandas as pd

    from .report.egress_report import Report

PathArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


def _paths(paths: PathArg) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _sigs(signatures: SignatureSet | str | os.PathLike[str] | None) -> SignatureSet | None:
    if signatures is None or isinstance(signatures, SignatureSet):
        return signatures
    return SignatureSet.load(signatures)


def scan(
    paths: PathArg,
    log_format: str | None = None,
    *,
    signatures: SignatureSet | str | None = None,
    jobs: int = 1,
    since: datetime | None = None,
    until: datetime | None = None,
    fast: bool = True,
    trusted_proxies: Iterable[str] = (),
    host: str | None = None,
    host_from: str | None = None,
) -> Scan:
    """Scan files, directories, globs or ``-`` (stdin); iterate the result for `Finding`s in
    (file, line) order. After iterating, ``.summary()`` has the per-file line accounting.

    ``log_format`` is a name from ``dropscan.formats.NAMES`` (``combined``, ``json``, ``w3c``,
    ``alb`` …), an Apache LogFormat or an nginx log_format string; ``None`` detects it per file.
    ``trusted_proxies`` (CIDRs) makes ``client_ip`` the client behind them
    (`dropscan.detect.attribution`); ``host`` and ``host_from`` name the receiving host of logs that log
    none (`dropscan.report.hosts`)."""
    opts = ScanOptions(
        log_format=log_format,
        signatures=_sigs(signatures),
        jobs=jobs,
        fast=fast,
        since=since,
        until=until,
        trusted_proxies=tuple(trusted_proxies),
        host=host,
        host_from=host_from,
    )
    return Scan(_paths(paths), opts)


def checked(summary: dict) -> dict:
    """``summary`` (of a finished scan), after raising `InputError` when no input could be read
    and warning `IncompleteScanWarning` when some could not."""
    if summary["errors"]:
        if not any(f["status"] in ("clean", "findings") for f in summary["files"]):
            raise InputError("no input could be read: " + "; ".join(summary["errors"]))
        warnings.warn(
            IncompleteScanWarning("incomplete scan, these inputs failed: " + "; ".join(summary["errors"])),
            stacklevel=3,
        )
    return summary


def scan_frame(paths: PathArg, log_format: str | None = None, **kwargs) -> pd.DataFrame:
    """`scan` as a DataFrame: one row per finding, the fixed schema of `dropscan.outputs.frames`.
    ``df.attrs["summary"]`` says what was covered (see `dropscan.engine.Scan.summary`).
    Raises `InputError` when no input could be read; warns `IncompleteScanWarning` when some
    inputs failed."""
    from .outputs.frames import to_frame

    s = scan(paths, log_format, **kwargs)
    df = to_frame(list(s), s.options.sigs())
    df.attrs["summary"] = df.attrs["dropscan"] = checked(s.summary())
    return df


def read_findings(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Findings saved with ``--format parquet`` (or JSONL), back as the fixed-schema frame."""
    from .outputs.frames import read_findings as _read

    return _read(os.fspath(path))


def destinations_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per (finding, destination) of a findings frame (see `dropscan.outputs.frames`)."""
    from .outputs.frames import destinations_frame as _dest

    return _dest(findings)


def egress_report(
    paths: PathArg,
    log_format: str | None = None,
    *,
    host: str | None = None,
    firewall_logs: Iterable[str | os.PathLike[str]] | None = None,
    window: str | timedelta = "10m",
    user: str | int | None = None,
    firewall_tz: str | tzinfo | None = None,
    **scan_kwargs,
) -> Report:
    """The egress report of ``dropscan report`` (`dropscan.report.egress_report.Report`: ``.hosts``,
    ``.as_dict()``): per receiving host, does it need egress blocking, toward which destinations,
    confirmed by which firewall-log lines. ``host`` names the receiving host of logs without
    ``%v``; ``user`` (a name or uid) restricts confirmation to packets with that ``UID=``;
    ``firewall_tz`` is the zone of firewall-log times logged without one (default: each
    request's own offset). Other keyword arguments go to `scan`. Raises `InputError` when no
    input could be read; warns `IncompleteScanWarning` when some inputs failed."""
    from .report.egress_report import build_report
    from .report.fwlog import resolve_uid
    from .timeutil import parse_duration, parse_tz

    s = scan(paths, log_format, **scan_kwargs)
    rep = build_report(
        s,
        host=host,
        firewall_logs=None if firewall_logs is None else _paths(firewall_logs),
        window=parse_duration(window) if isinstance(window, str) else window,
        uid=resolve_uid(str(user)) if user is not None else None,
        firewall_tz=parse_tz(firewall_tz) if isinstance(firewall_tz, str) else firewall_tz,
        scan_summary=s.summary,
    )
    checked(rep.scan)
    return rep


def report_frames(paths: PathArg, log_format: str | None = None, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`egress_report` as DataFrames ``(hosts, destinations)`` with fixed dtypes: timestamps
    ``datetime64[us, UTC]``, counts ``Int64``, ``port`` ``Int32``, flags ``boolean`` (see
    `dropscan.outputs.frames.REPORT_HOST_COLUMNS` and ``REPORT_DEST_COLUMNS``)."""
    from .outputs.frames import report_frames as _frames

    rep = egress_report(paths, log_format, **kwargs)
    hosts, dests = _frames(rep)
    hosts.attrs["dropscan"] = dests.attrs["dropscan"] = {"scan": rep.scan, "firewall": rep.as_dict()["firewall"]}
    return hosts, dests
