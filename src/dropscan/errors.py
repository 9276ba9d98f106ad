"""Errors a user can act on. The CLI prints ``str(error)`` as one line and exits 2."""


class DropscanError(Exception):
    """Base class: anything raised as a DropscanError is reported without a traceback."""


class UsageError(DropscanError):
    """Bad options or arguments (unknown format, bad signature pack, bad duration...)."""


class InputError(DropscanError):
    """An input could not be read (missing, unreadable, corrupt)."""


class LockedError(DropscanError):
    """Another run holds the state lock (exit 75)."""


class OutputError(UsageError):
    """An output cannot be written (no such directory, a directory, read-only, disk full), or
    would overwrite an input (exit 2)."""


class IncompleteScanWarning(UserWarning):
    """Some inputs could not be read: the results cover only the rest (the Python API warns
    with this; ``.summary()["errors"]`` names what failed)."""
