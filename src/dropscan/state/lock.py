"""One run at a time per state file: an exclusive, non-blocking ``flock`` on ``<state>.lock``.

Two cron runs that overlap on one state file would both read the same new lines and race to
write the state, so the second one stops at once with `LockedError` (the CLI exits 75) naming
the run that holds the lock: its pid, host and start time are written into the lock file. The
kernel drops the lock when the holder exits, however it exits, so a crash never leaves a stale
lock. The lock file itself is never deleted: unlinking a flock file lets a third run lock a
fresh inode while the second still holds the old one.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from ..errors import LockedError, UsageError


@contextmanager
def exclusive(path: str) -> Iterator[str]:
    """Hold ``path + ".lock"`` for the duration of the block; yields the lock file's path."""
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise UsageError(f"{lock_path}: cannot open the lock file: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 300, 0).decode("utf-8", "replace").strip() or "a run that has not said who it is"
            raise LockedError(f"{path} is in use by another dropscan run ({holder}); try again later") from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode(), 0)
        try:
            yield lock_path
        finally:
            os.ftruncate(fd, 0)  # the lock is free: no holder to name
    finally:
        os.close(fd)  # releases the flock
