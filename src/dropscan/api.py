"""The Python API: the same scan the CLI runs, as findings or as a DataFrame.

    import dropscan
    for f in dropscan.scan("/var/log/apache2/"):
        print(f.client_ip, f.rule_ids, [d.endpoint() for d in f.egress])
    df = dropscan.scan_frame("/var/log/apache2/")      # one row per finding, fixed schema

pandas is imported only by the frame functions, so the CLI and ``scan()`` stay fast to start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from .engine import Scan, ScanOptions
from .signatures import SignatureSet

if TYPE_CHECKING:
    import pandas as pd

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
) -> Scan:
    """Scan files, directories, globs or ``-`` (stdin); iterate the result for `Finding`s in
    (file, line) order. After iterating, ``.summary()`` has the per-file line accounting.

    ``log_format`` is a preset (``combined``, ``vhost_combined``, ``common``, ``vhost_common``) or
    an Apache LogFormat string; ``None`` detects it per file."""
    opts = ScanOptions(
        log_format=log_format, signatures=_sigs(signatures), jobs=jobs, fast=fast, since=since, until=until
    )
    return Scan(_paths(paths), opts)


def scan_frame(paths: PathArg, log_format: str | None = None, **kwargs) -> pd.DataFrame:
    """`scan` as a DataFrame: one row per finding, the fixed schema of `dropscan.frames`."""
    from .frames import to_frame

    s = scan(paths, log_format, **kwargs)
    df = to_frame(list(s), s.options.sigs())
    df.attrs["dropscan"] = s.summary()
    return df


def read_findings(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Findings saved with ``--format parquet`` (or JSONL), back as the fixed-schema frame."""
    from .frames import read_findings as _read

    return _read(os.fspath(path))


def destinations_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per (finding, destination) of a findings frame (see `dropscan.frames`)."""
    from .frames import destinations_frame as _dest

    return _dest(findings)
