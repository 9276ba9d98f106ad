"""``--follow``: keep scanning live logs, like ``tail -F``, and write findings as they arrive.

Every poll is one incremental run (`dropscan.state.incremental.Incremental`) over the same paths, so follow
survives rotation exactly as cron runs do: after a rename the old file's unread tail is read
from where it went (``access.log.1``), after ``copytruncate`` from the copy, then the new file
from its start. With ``--state`` the position is saved after every poll that wrote its output,
so a later cron or follow run resumes there; without, it lives in memory and the first poll
reads the files from their start.

A path that is missing for a moment (between the rename and the creation of the new file) is
waited for, not reported; other errors are reported once each. Stopping (SIGTERM/SIGINT in the
CLI, a `threading.Event` here) ends the loop after the current poll has been written and saved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .detect.findings import Finding
from .engine import ScanOptions
from .state.incremental import Incremental


class SignalStop:
    """A stop flag set from a signal handler. A `threading.Event` cannot be: its ``set`` takes
    a lock that the interrupted main thread may be holding inside ``wait``, and the process
    then hangs for ever (the rotation campaign caught a follower that SIGTERM never ended)."""

    def __init__(self) -> None:
        self.flag = False

    def set(self, *_signal: object) -> None:
        self.flag = True

    def is_set(self) -> bool:
        return self.flag

    def wait(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not self.flag and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
        return self.flag


@dataclass(slots=True)
class FollowResult:
    findings: int = 0
    polls: int = 0
    errors: list[str] = field(default_factory=list)


def follow(
    paths: list[str],
    options: ScanOptions,
    incremental: Incremental,
    emit: Callable[[Finding], None],
    flush: Callable[[], None],
    *,
    stop: threading.Event | SignalStop,
    interval: float = 1.0,
    on_error: Callable[[str], None] = lambda _m: None,
    on_warning: Callable[[str], None] = lambda _m: None,
    on_unscanned: Callable[[Finding], None] | None = None,
    on_reject: Callable[[str, bytes], None] | None = None,
    outputs: Iterable[str | None] = (),
) -> FollowResult:
    """Poll ``paths`` every ``interval`` seconds until ``stop`` is set; ``emit`` each finding,
    ``flush`` after each poll, then save the position (``outputs`` are fsynced first)."""
    result = FollowResult()
    said: set[str] = set()
    outputs = list(outputs)
    while not stop.is_set():
        run = incremental.scan(paths, options, on_reject)
        run.on_unscanned = on_unscanned
        for f in run:
            emit(f)
            result.findings += 1
        flush()
        incremental.commit(run, outputs)
        missing = set(run.errors) if result.polls else set()  # after the first poll: a rotation gap
        for msg in run.summary()["errors"]:
            if msg not in said and msg not in missing:
                said.add(msg)
                result.errors.append(msg)
                on_error(msg)
        for msg in incremental.warnings:
            if msg not in said:
                said.add(msg)
                on_warning(msg)
        result.polls += 1
        stop.wait(interval)
    return result
