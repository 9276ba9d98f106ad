"""A progress line on stderr while a scan runs, for a person at a terminal only.

    ━━━━━━━━━━━━━╸━━━━━━━━━━━━━━  file 2/4  12.3/45.6 MB  352,118 lines/s  17 findings  ETA 0:00:07  access.log.1

Shown only when stderr is a terminal (never in cron mail, pipes or files, nor with ``--quiet``), drawn by `rich`, and
transient: it is erased when the scan ends, and the summary takes its place. Bytes are counted
on disk (a ``.gz`` advances by compressed bytes), so the bar and the ETA hold for every file
whose size is known; reading stdin there is no total and no ETA. The display reads wall-clock
time for rates only: findings never depend on it. File names are text from the filesystem:
they are shown escaped (`dropscan.outputs.safety.term`) inside a rich ``Text``, never as markup.
"""

from __future__ import annotations

import os
from typing import TextIO

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, ProgressColumn, Task
from rich.text import Text

from .safety import term


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_text(info: dict, elapsed: float | None, eta: float | None) -> str:
    """The words of the progress line (everything but the bar)."""
    parts = [f"file {info['files']}/{info['files_total']}"]
    total = info["bytes_total"]
    parts.append(f"{decimal(info['bytes'])}" + (f"/{decimal(total)}" if total is not None else ""))
    if elapsed:
        parts.append(f"{info['lines'] / elapsed:,.0f} lines/s")
    parts.append(f"{info['findings']:,} finding{'' if info['findings'] == 1 else 's'}")
    if eta is not None and total is not None:
        parts.append(f"ETA {_duration(eta)}")
    if info["current"]:
        parts.append(term(os.path.basename(info["current"])))
    return "  ".join(parts)


class _Words(ProgressColumn):
    def render(self, task: Task) -> Text:
        info = task.fields.get("info")
        if info is None:
            return Text("starting")
        return Text(progress_text(info, task.elapsed, task.time_remaining), no_wrap=True, overflow="ellipsis")


class ScanProgress:
    """``with ScanProgress(sys.stderr, sys.stdout) as p: run.on_progress = p.update``, for a
    ``stream`` that is a terminal (the CLI imports this module only then:
    `dropscan.cli.common._progress`).
    When ``out`` is the terminal too (a table on screen), what is written to it goes above the
    progress line, which is redrawn below; output to a pipe or a file is never touched."""

    def __init__(self, stream: TextIO, out: TextIO | None = None, color: bool = True):
        console = Console(file=stream, highlight=False, markup=False, emoji=False, no_color=not color)
        self.progress = Progress(
            BarColumn(bar_width=20),
            _Words(),
            console=console,
            transient=True,
            refresh_per_second=5,
            redirect_stdout=out is not None and out.isatty(),
            redirect_stderr=True,
        )
        self.task = self.progress.add_task("scan", total=None, info=None)

    def __enter__(self) -> ScanProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, run) -> None:
        """`Scan.on_progress`: called after every chunk of work."""
        info = run.progress_info()
        self.progress.update(self.task, completed=info["bytes"], total=info["bytes_total"], info=info)
