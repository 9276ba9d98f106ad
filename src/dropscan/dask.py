"""Scale out with Dask: the same core, mapped over files and byte ranges by a Dask cluster.

    from dropscan.dask import scan_dataframe
    df = scan_dataframe("/logs/**/access.log*")        # a lazy dask DataFrame, fixed schema
    df.groupby("dest_host").size().compute()

``pip install 'dropscan[dask]'``. The work units are the local engine's: one per compressed
file, byte ranges of about ``partition_size`` for plain files; each is scanned by
`dropscan.engine.scan_unit`, so findings are identical to a local scan (the test suite holds
them to it). Line numbers of a later byte range are shifted by the lines of the earlier ranges
of the same file, inside the graph. Workers must see the same paths as the client (shared
storage); the client reads the first lines of each file to detect its format.

On an existing cluster, create a ``distributed.Client("tcp://scheduler:8786")`` first (the
lazy functions use the current client), or pass ``--engine dask --scheduler tcp://...`` to
``dropscan scan``. Without an address, the CLI starts a LocalCluster bound to 127.0.0.1.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator

from .detect.findings import Finding
from .engine import Scan, ScanOptions, Unit, UnitResult, scan_unit
from .errors import UsageError
from .sources.files import Source

PARTITION_SIZE = 64 << 20

try:
    import dask.bag as dask_bag
    import dask.dataframe as dask_dataframe
    from dask import delayed
except ImportError as e:  # pragma: no cover - the [dask] extra is not installed
    raise UsageError("the Dask engine needs the dask extra: pip install 'dropscan[dask]'") from e


CONNECT_TIMEOUT = 5  # seconds to reach a --scheduler (distributed's own default retries for 30)


def reachable(address: str) -> None:
    """`UsageError` at once when nothing answers at a scheduler address (a plain TCP connect:
    refused is immediate, silence costs `CONNECT_TIMEOUT`); checked before any scan starts."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(address if "://" in address else f"tcp://{address}")
    if url.scheme in ("tcp", "tls"):
        try:
            port = url.port or 8786
            socket.create_connection((url.hostname or "127.0.0.1", port), timeout=CONNECT_TIMEOUT).close()
        except (OSError, ValueError) as e:
            raise UsageError(f"--scheduler {address}: cannot connect: {getattr(e, 'strerror', None) or e}") from None


def connect(address: str):
    """A Client of the scheduler at ``address``; `UsageError` when it cannot be reached."""
    from distributed import Client

    reachable(address)
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as e:
        raise UsageError(f"--scheduler {address}: cannot connect: {e}") from None


def _parts(path: str, partition_size: int) -> int:
    try:
        return max(1, os.path.getsize(path) // partition_size)
    except OSError:
        return 1


class DaskScan(Scan):
    """`dropscan.engine.Scan` with its units computed on a Dask cluster (``scheduler`` address,
    or a LocalCluster on 127.0.0.1 with ``options.jobs`` single-threaded worker processes)."""

    def __init__(
        self,
        paths: list[str],
        options: ScanOptions | None = None,
        on_reject: Callable[[str, bytes], None] | None = None,
        scheduler: str | None = None,
        partition_size: int = PARTITION_SIZE,
    ):
        super().__init__(paths, options, on_reject)
        self.scheduler = scheduler
        self.partition_size = partition_size

    def _findings(self) -> Iterator[Finding]:
        yield from self._scan_pool()

    def units(self) -> Iterator[tuple[Source, Unit | None]]:
        return self.plan(lambda src: _parts(src.path, self.partition_size), min_part=self.partition_size)

    def unit_results(self, tmpdir: str | None) -> Iterator[tuple[Source, Unit | None, Callable[[], UnitResult] | None]]:
        from distributed import Client, LocalCluster

        cluster = None
        if self.scheduler:
            client = connect(self.scheduler)
        else:
            cluster = LocalCluster(
                n_workers=self.options.jobs,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=40,
            )
            client = Client(cluster)
        try:
            pending: deque = deque()
            window = 4 * max(1, len(client.scheduler_info().get("workers", {})) or self.options.jobs)
            units = self.units()
            exhausted = False
            while True:
                while not exhausted and len(pending) < window:
                    try:
                        src, unit = next(units)
                    except StopIteration:
                        exhausted = True
                        break
                    run = unit is not None and not unit.unrecognised
                    fut = client.submit(scan_unit, self.spec, unit, self.options, None, pure=False) if run else None
                    pending.append((src, unit, fut.result if fut else None))
                if not pending:
                    return
                yield pending.popleft()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


# --- lazy collections --------------------------------------------------------------------------
def _shift(res: UnitResult, base: int) -> list[Finding]:
    if res.error:
        raise UsageError(res.error)
    for f in res.counts.findings:
        f.line_no += base
    return res.counts.findings


def _lines(res: UnitResult) -> int:
    return res.counts.lines


def _records(findings: list[Finding]) -> list[dict]:
    return [f.to_record() for f in findings]


def _frame(findings: list[Finding], rule_ids: list[str]):
    from .outputs.frames import to_frame

    return to_frame(findings, rule_ids)


def _delayed_findings(paths: str | list[str], log_format: str | None, signatures, partition_size: int):
    from .api import _paths, _sigs

    opts = ScanOptions(log_format=log_format, signatures=_sigs(signatures))
    plan = DaskScan(_paths(paths), opts, partition_size=partition_size)
    if plan.errors:
        raise UsageError("; ".join(plan.errors))
    out = []
    base = None
    last_path = None
    for src, unit in plan.units():
        if unit is None:
            raise UsageError("stdin cannot be scanned lazily with Dask; use a file")
        if unit.unrecognised:  # as in a scan: skipped when a walk found it, an error when named
            if not src.walked:
                raise UsageError(f"{src.path}: no known log format matches its first lines (pass log_format)")
            continue
        res = delayed(scan_unit, pure=True)(plan.spec, unit, opts, None)
        if src.path != last_path:
            base, last_path = 0, src.path
        out.append(delayed(_shift)(res, base))
        base = delayed(_lines)(res) + base  # the next range of this file starts after these lines
    return out, opts.sigs()


def scan_bag(
    paths: str | list[str], log_format: str | None = None, *, signatures=None, partition_size: int = PARTITION_SIZE
) -> dask_bag.Bag:
    """A dask Bag of finding records (the JSONL objects), in (file, line) order."""
    parts, _ = _delayed_findings(paths, log_format, signatures, partition_size)
    return dask_bag.from_delayed([delayed(_records)(p) for p in parts]) if parts else dask_bag.from_sequence([])


def scan_dataframe(
    paths: str | list[str], log_format: str | None = None, *, signatures=None, partition_size: int = PARTITION_SIZE
) -> dask_dataframe.DataFrame:
    """A dask DataFrame with the fixed schema of `dropscan.scan_frame` (its ``meta``)."""
    from .outputs.frames import empty_frame

    parts, sigs = _delayed_findings(paths, log_format, signatures, partition_size)
    meta = empty_frame(sigs)
    if not parts:
        return dask_dataframe.from_pandas(meta, npartitions=1)
    return dask_dataframe.from_delayed([delayed(_frame)(p, sigs.ids) for p in parts], meta=meta, verify_meta=True)


__all__ = ["DaskScan", "scan_bag", "scan_dataframe"]
