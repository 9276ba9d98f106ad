"""Errors a user can act on. The CLI prints ``str(error)`` as one line and exits 2."""


class DropscanError(Exception):
    """Base class: anything raised as a DropscanError is reported without a traceback."""


class UsageError(DropscanError):
    """Bad options or arguments (unknown format, bad signature pack, bad duration...)."""


class InputError(DropscanError):
    """An input could not be read (missing, unreadable, corrupt)."""


class LockedError(DropscanError):
    """Another run holds the state lock (exit 75)."""
