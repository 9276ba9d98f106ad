"""Output files that never destroy evidence: checked before the scan, written atomically.

`check_outputs` runs before anything is read or opened: an output path (``-o``, ``--rejects``,
``--summary``, the state file) that is one of the inputs, or lies inside a directory being
scanned, is refused, compared by resolved path and by (device, inode) so symlinks and hard
links are caught; so is a path that is a directory, whose directory does not exist, or that
cannot be written. `AtomicOutput` writes to a temporary file in the target's directory and
renames it over the target only once everything was written and fsynced: a failed run (an
error, disk full, ^C) leaves the previous file, or none, never half of one.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterable

from ..errors import OutputError
from ..sources.files import file_ident


def _inputs(paths: Iterable[str]) -> tuple[set[tuple[int, int]], list[str]]:
    """(device, inode) of every input file named or matched, and the resolved input directories."""
    files: set[tuple[int, int]] = set()
    dirs: list[str] = []
    for p in paths:
        if p == "-":
            continue
        for m in [p] if os.path.exists(p) or not glob.has_magic(p) else glob.glob(p, recursive=True):
            if os.path.isdir(m):
                dirs.append(os.path.realpath(m))
            elif (ident := file_ident(m)) is not None:
                files.add(ident)
    return files, dirs


def check_outputs(outputs: dict[str, str | None], inputs: Iterable[str]) -> None:
    """Raise `OutputError` for the first output (option name -> path; ``None`` and ``-`` are
    stdout) that would overwrite an input or cannot be written."""
    files, dirs = _inputs(inputs)
    for option, path in outputs.items():
        if not path or path == "-":
            continue
        real = os.path.realpath(path)
        if file_ident(path) in files or any(real == d or real.startswith(d.rstrip(os.sep) + os.sep) for d in dirs):
            raise OutputError(f"{option} {path}: is an input (or inside an input directory): refusing to overwrite it")
        if os.path.isdir(path):
            raise OutputError(f"{option} {path}: is a directory, not a file")
        parent = os.path.dirname(real) or "."
        if not os.path.isdir(parent):
            raise OutputError(f"{option} {path}: no such directory: {os.path.dirname(path) or '.'}")
        if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
            raise OutputError(f"{option} {path}: cannot write here (permission denied or read-only)")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicOutput:
    """A file object for ``path`` that appears there only on `commit` (temp file + rename).
    As a context manager: commit on success, discard on any exception."""

    def __init__(self, path: str, mode: str = "w", **kwargs):
        self.path = path
        self.done = False
        if os.path.exists(path) and not os.path.isfile(path):  # /dev/null, a FIFO: nothing to replace
            self.tmp = None
            self.fh = open(path, mode, **kwargs)  # closed by commit or discard
            return
        directory = os.path.dirname(os.path.abspath(path))
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=".dropscan-", suffix=".part", dir=directory)
        except OSError as e:
            raise OutputError(f"{path}: cannot write: {e.strerror or e}") from None
        os.fchmod(fd, 0o666 & ~_umask())
        self.fh = os.fdopen(fd, mode, **kwargs)

    def commit(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.fh.flush()
            if self.tmp is not None:
                os.fsync(self.fh.fileno())
            self.fh.close()
            if self.tmp is not None:
                os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise OutputError(f"{self.path}: cannot write: {e.strerror or e}") from None

    def discard(self) -> None:
        if self.done and (self.tmp is None or not os.path.exists(self.tmp)):
            return
        self.done = True
        try:
            self.fh.close()
        except OSError:
            pass
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self.fh

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
