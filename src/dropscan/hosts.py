"""Which host received a request: the rule the egress report groups findings by.

1. The finding's vhost, when the log format records ``%v`` (``vhost_combined``, ``vhost_common``).
   It is the server's own configured name, lower-cased so ``Shop.example.com`` and
   ``shop.example.com`` are one host.
2. Otherwise the name given with ``--host NAME`` (one machine's logs, scanned on another).
3. Otherwise a name read from the log file's path, because that is how admins name per-site logs:

   * strip compression and rotation suffixes (``.gz``, ``.1``, ``-20261101``), as the path
     expander does (`dropscan.sources.rotation_base`);
   * strip an access-log suffix: ``access.log``, ``-access.log``, ``_access.log``,
     ``.access.log``, ``access_log``, ``ssl_access.log``, ``-ssl_access_log``, ``.log``, ``_log``;
   * what remains names the host if it is not generic: ``shop.example.com-access.log`` ->
     ``shop.example.com``, ``web1.log`` -> ``web1``;
   * else the nearest directory above it whose name is not generic: ``logs/web1/access.log`` and
     ``backup/web2/var/log/apache2/access.log.1`` -> ``web1`` and ``web2``;
   * else ``localhost`` (``/var/log/apache2/access.log``: the machine the logs were written on).
     stdin (``-``) is ``localhost`` unless ``--host`` is given.

Generic names are those of the stock layouts (``apache2``, ``httpd``, ``log``, ``logs``,
``other_vhosts`` …, see `GENERIC_NAMES`), which say nothing about which server it was.
"""

from __future__ import annotations

import os
import re

from .findings import Finding
from .sources import STDIN, rotation_base

LOCALHOST = "localhost"

# Stock directory and file stems that name no particular server.
GENERIC_NAMES = frozenset(
    {
        "",
        ".",
        "..",
        "access",
        "apache",
        "apache2",
        "httpd",
        "httpd2",
        "nginx",
        "log",
        "logs",
        "var",
        "tmp",
        "www",
        "web",
        "ssl",
        "default",
        "other_vhosts",
        "other-vhosts",
        "vhosts",
        "sample_logs",
        "srv",
        "mnt",
        "opt",
        "home",
        "root",
        "data",
    }
)

# One access-log suffix at the end of the stem (case-insensitive), with its separator.
_ACCESS_SUFFIX = re.compile(
    r"(?:(?:^|[-_.])(?:ssl[-_.]?)?access(?:[-_.]ssl)?(?:[-_.]log)?|[-_.]log)$",
    re.IGNORECASE,
)
_SEPARATORS = "-_. "


def host_from_path(path: str) -> str:
    """The receiving host named by a log file's path (rule 3 of the module docstring)."""
    if path == STDIN:
        return LOCALHOST
    name = os.path.basename(path)
    stem = _ACCESS_SUFFIX.sub("", rotation_base(name)).strip(_SEPARATORS).lower()
    if stem not in GENERIC_NAMES:
        return stem
    for part in reversed(os.path.normpath(path).split(os.sep)[:-1]):
        d = part.strip(_SEPARATORS).lower()
        if d not in GENERIC_NAMES:
            return d
    return LOCALHOST


class HostRule:
    """Finding -> receiving host: vhost, else the ``--host`` name, else `host_from_path`
    (memoised per log file: a report sees many findings of few files)."""

    def __init__(self, host: str | None = None):
        self.host = host.strip().lower() if host and host.strip() else None
        self._by_path: dict[str, str] = {}

    def __call__(self, f: Finding) -> str:
        if f.vhost:
            return f.vhost.lower()
        if self.host:
            return self.host
        h = self._by_path.get(f.log_file)
        if h is None:
            h = self._by_path[f.log_file] = host_from_path(f.log_file)
        return h
