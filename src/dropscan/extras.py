"""Optional extras: import a library that only some commands need, or fail with one line.

`dropscan[intel]` (STIX 2.1, MISP) and `dropscan[sigma]` (pySigma) are optional; a command that
needs one says which extra to install instead of printing an ImportError traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import UsageError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise a `UsageError` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{what} needs the optional '{extra}' extra: pip install 'dropscan[{extra}]'") from None
