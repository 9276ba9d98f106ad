"""The config file (``dropscan.toml``) and the effective settings of a run.

Where it is read from, first found wins: ``--config FILE``; else ``./dropscan.toml``; else
``dropscan.toml`` in the user config directory (``~/.config/dropscan/`` on Linux, from
`platformdirs`). Every key is documented in docs/config.md (the test suite checks that each key
of `KEYS` is). A command-line option always wins over the file, the file over the default;
``dropscan config show`` prints each effective value and where it came from.

Unknown keys and wrong types are refused with one line naming the file and the key: a typo in
a suppression must not silently suppress nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .detect.signatures import CATEGORIES, SEVERITIES
from .errors import UsageError
from .report.suppress import Suppression

FILE_NAME = "dropscan.toml"


@dataclass(frozen=True, slots=True)
class Key:
    default: Any
    kind: type | tuple[type, ...]
    help: str
    choices: tuple[str, ...] | None = None
    is_list: bool = False


KEYS: dict[str, Key] = {
    "log_format": Key(None, str, "LogFormat preset or string; unset: detected per file"),
    "signatures": Key([], str, "extra signature packs (directories or files), added to the built-in one", is_list=True),
    "builtin_signatures": Key(True, bool, "false: use only the packs in `signatures`"),
    "min_severity": Key(None, str, "report only findings at least this severe", SEVERITIES),
    "categories": Key([], str, "report only these categories (empty: all)", CATEGORIES, is_list=True),
    "jobs": Key(None, int, "worker processes; unset: all cores"),
    "tz": Key(None, str, "zone of the times in the scan table (UTC, +01:00, Europe/Berlin)"),
    "host": Key(None, str, "receiving host for logs without %v"),
    "color": Key("auto", str, "auto, always or never", ("auto", "always", "never")),
    "defang": Key(None, bool, "defang destinations in human formats; unset: table/CSV no, Markdown/HTML yes"),
    "suppress": Key([], dict, "suppressions: see below", is_list=True),
}


def user_config_path() -> str:
    from platformdirs import user_config_dir

    return os.path.join(user_config_dir("dropscan", appauthor=False), FILE_NAME)


def locate(explicit: str | None) -> str | None:
    """The config file this run reads, or None."""
    if explicit:
        if not os.path.isfile(explicit):
            raise UsageError(f"{explicit}: no such config file")
        return explicit
    for candidate in (FILE_NAME, user_config_path()):
        if os.path.isfile(candidate):
            return candidate
    return None


def _check(path: str, name: str, value: Any) -> Any:
    key = KEYS.get(name)
    if key is None:
        raise UsageError(f"{path}: unknown key {name!r} (see docs/config.md)")
    items = value if key.is_list else [value]
    if key.is_list and not isinstance(value, list):
        raise UsageError(f"{path}: {name} must be a list")
    for v in items:
        if not isinstance(v, key.kind) or (key.kind is int and isinstance(v, bool)):
            raise UsageError(f"{path}: {name} has a value of the wrong type: {v!r}")
        if key.choices and v not in key.choices:
            raise UsageError(f"{path}: {name} must be one of {', '.join(key.choices)}, not {v!r}")
    if name == "jobs" and value < 1:
        raise UsageError(f"{path}: jobs must be at least 1")
    return value


class Settings:
    """Effective settings: ``settings["jobs"]``; ``settings.source("jobs")`` says where from."""

    def __init__(self, path: str | None, cli: dict[str, Any] | None = None):
        self.path = path
        self.file: dict[str, Any] = {}
        if path is not None:
            import tomllib  # only when there is a file: most runs have none (start-up time)

            try:
                with open(path, "rb") as fh:
                    data = tomllib.load(fh)
            except OSError as e:
                raise UsageError(f"{path}: cannot read config file: {e.strerror or e}") from None
            except tomllib.TOMLDecodeError as e:
                raise UsageError(f"{path}: not valid TOML: {e}") from None
            self.file = {k: _check(path, k, v) for k, v in data.items()}
            if "signatures" in self.file:  # relative to the file, as a config file's paths are
                here = os.path.dirname(path)
                self.file["signatures"] = [os.path.join(here, os.path.expanduser(p)) for p in self.file["signatures"]]
        self.cli = {k: v for k, v in (cli or {}).items() if v is not None and v != []}
        try:
            self.suppressions = [Suppression.parse(raw, i) for i, raw in enumerate(self["suppress"], 1)]
        except UsageError as e:
            raise UsageError(f"{path}: {e}") from None

    def __getitem__(self, name: str) -> Any:
        if name in self.cli:
            return self.cli[name]
        if name in self.file:
            return self.file[name]
        return KEYS[name].default

    def source(self, name: str) -> str:
        if name in self.cli:
            return "command line"
        if name in self.file:
            return self.path or "config file"
        return "default"

    def rows(self) -> list[tuple[str, Any, str]]:
        """(key, effective value, where from) for every key but the suppressions."""
        return [(k, self[k], self.source(k)) for k in KEYS if k != "suppress"]
