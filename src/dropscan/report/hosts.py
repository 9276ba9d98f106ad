"""Which host received a request: the rule the egress report groups findings by.

1. The logged host: ``%v`` (``vhost_combined``, ``vhost_common``), the ``Host`` header, nginx's
   ``$host``, a JSON log's host field, a balancer's domain or request URL, W3C ``cs-host`` /
   CloudFront ``x-host-header``. It is lower-cased so ``Shop.example.com`` and
   ``shop.example.com`` are one host.
2. Otherwise the name given with ``--host NAME`` (one machine's logs, scanned on another).
3. Otherwise ``--host-from PATTERN``: a path pattern naming the host's place in a per-host tree,
   ``logs/{host}/*`` or ``backup/{host}/**`` (``*`` one path part, ``**`` any number), matched
   against the end of the log file's path.
4. Otherwise a name read from the log file's path, only from the part below the path that was
   named on the command line, so that a copy of the logs names the same hosts wherever it sits:

   * strip compression and rotation suffixes (``.gz``, ``.1``, ``-20261101``), as the path
     expander does (`dropscan.sources.files.rotation_base`);
   * strip an access-log suffix: ``access.log``, ``-access.log``, ``_access.log``,
     ``.access.log``, ``access_log``, ``ssl_access.log``, ``-ssl_access_log``, ``.log``, ``_log``;
   * what remains names the host if it is not generic: ``shop.example.com-access.log`` ->
     ``shop.example.com``, ``web1.log`` -> ``web1``;
   * else the nearest directory above it, below the named path, whose name is not generic:
     ``dropscan report logs/`` reads ``logs/web1/access.log`` as ``web1``;
   * else ``localhost`` (``/var/log/apache2/access.log``: the machine the logs were written on).
     stdin (``-``) is ``localhost`` unless ``--host`` is given.

Generic names are those of the stock layouts (``apache2``, ``httpd``, ``log``, ``logs``,
``other_vhosts`` …, see `GENERIC_NAMES`), which say nothing about which server it was. The
scan summary says, per file, which rule named it (`HostRule.source`).
"""

from __future__ import annotations

import re

from ..detect.findings import Finding
from ..sources.files import STDIN, rotation_base

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


def _path_rule(path: str, root: str | None) -> tuple[str, str]:
    """(host, source) from a log file's path, below ``root`` (rule 4 of the module docstring)."""
    if path == STDIN:
        return LOCALHOST, "default"
    name = path.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    stem = _ACCESS_SUFFIX.sub("", rotation_base(name)).strip(_SEPARATORS).lower()
    if stem not in GENERIC_NAMES:
        return stem, "file name"
    if root is not None:
        below = path[len(root) :] if path.startswith(root) else ""
        for part in reversed(re.split(r"[/!]", below)[:-1]):
            d = part.strip(_SEPARATORS).lower()
            if d not in GENERIC_NAMES:
                return d, "directory"
    return LOCALHOST, "default"


def host_from_path(path: str, root: str | None = None) -> str:
    """The receiving host named by a log file's path below ``root``, the path that was named
    on the command line (rule 4 of the module docstring)."""
    return _path_rule(path, root)[0]


def root_of(path: str, named: list[str]) -> str | None:
    """Which of the ``named`` paths (command-line arguments) ``path`` was found under: the
    longest directory (or archive) that contains it; None for a file named itself."""
    best = None
    for arg in named:
        a = arg.rstrip("/")
        if a and path != a and path.startswith((a + "/", a + "!")) and (best is None or len(a) > len(best)):
            best = a
    return best


def compile_host_from(pattern: str) -> re.Pattern[str]:
    """``logs/{host}/*`` -> a regex matched against the end of a path (see the docstring)."""
    from ..errors import UsageError

    if "{host}" not in pattern:
        raise UsageError(f"--host-from {pattern!r}: the pattern must contain {{host}}")
    out = ""
    for part in re.split(r"(\{host\}|\*\*|\*|…)", pattern.strip("/")):
        if part == "{host}":
            out += r"(?P<host>[^/!]+)"
        elif part in ("**", "…"):
            out += r".*"
        elif part == "*":
            out += r"[^/!]*"
        else:
            out += re.escape(part)
    return re.compile(r"(?:^|[/!])" + out + r"$")


class HostRule:
    """Finding -> receiving host: the logged host, else the ``--host`` name, else the
    ``--host-from`` pattern, else the path rule below the named path (memoised per log file:
    a report sees many findings of few files)."""

    def __init__(self, host: str | None = None, host_from: str | None = None, named: list[str] | None = None):
        self.host = host.strip().lower() if host and host.strip() else None
        self.pattern = compile_host_from(host_from) if host_from else None
        self.named = list(named or [])
        self._by_path: dict[str, tuple[str, str]] = {}

    def source(self, log_file: str) -> tuple[str, str]:
        """(host, where the name came from) for a file's lines that log no host."""
        h = self._by_path.get(log_file)
        if h is None:
            h = self._by_path[log_file] = self._lookup(log_file)
        return h

    def _lookup(self, log_file: str) -> tuple[str, str]:
        if self.host:
            return self.host, "--host"
        if self.pattern is not None:
            m = self.pattern.search(log_file)
            if m and m.group("host").strip(_SEPARATORS):
                return m.group("host").strip(_SEPARATORS).lower(), "--host-from"
        return _path_rule(log_file, root_of(log_file, self.named))

    def __call__(self, f: Finding) -> str:
        if f.host:
            return f.host
        if f.vhost:
            return f.vhost.lower()
        return self.source(f.log_file)[0]
