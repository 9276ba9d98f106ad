"""Destinations a payload would contact, extracted from signature matches.

Only what the payload itself would connect to counts: the URL given to ``wget``, the
``host port`` of ``nc``, ``/dev/tcp/host/port``, the JNDI URL, the included RFI URL. A benign
``?next=https://partner.example/`` elsewhere in the request is not a destination, because
extraction only looks inside the text a signature matched.

A signature says where the destination is with named groups in its pattern:

* ``url``: ``scheme://host[:port]/...`` or a bare ``host[:port][/path]`` (then the signature's
  ``default_scheme``, e.g. ``wget host/x`` means http);
* ``host`` with optional ``port`` and ``scheme``;
* ``tool`` + ``args`` with ``extract: argv``: the argument list of a download, socket or name
  lookup tool, read the way the tool reads it (options that take a value skip it, ``-l``
  listeners have no destination); ``extract: argv-list`` reads a comma-separated argument array
  (``new ProcessBuilder("curl","x.example")``) the same way.

Name lookups (``ping``, ``nslookup``, ``dig``, ``host``, ``getent hosts``, Java
``InetAddress.getByName``) are DNS-only callbacks: the destination is the name with scheme
``dns`` and port 53, made by the local resolver, not by the web server's user. ``ping`` of an
IP literal is scheme ``icmp`` with no port.

Names built at run time (``$(whoami).x.example``, `` `id`.x.example ``, ``${hostName}.x.example``,
``%USERNAME%.x.example``, or the empty label a resolved log4j lookup leaves, ``..x.example``)
have a fixed, attacker-controlled suffix: that suffix is the destination, with ``wildcard``
set (reports show ``*.x.example``). A suffix needs two labels: ``$(id).com`` names no one.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import regex

DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "ftp": 21,
    "ftps": 990,
    "tftp": 69,
    "ldap": 389,
    "ldaps": 636,
    "rmi": 1099,
    "dns": 53,
    "iiop": 900,
    "corba": 900,
    "nds": 524,
    "nis": 111,
    "telnet": 23,
    "smb": 445,
    "gopher": 70,
    "ssh": 22,
    "sftp": 22,
    "ws": 80,
    "wss": 443,
    "mysql": 3306,
    "mariadb": 3306,
    "postgresql": 5432,
    "sqlserver": 1433,
    "oracle": 1521,
}
SCHEME_ALIASES = {
    "tcp4": "tcp",
    "tcp6": "tcp",
    "tcp-connect": "tcp",
    "tcp4-connect": "tcp",
    "tcp6-connect": "tcp",
    "udp4": "udp",
    "udp6": "udp",
    "udp-connect": "udp",
    "openssl": "tls",
    "openssl-connect": "tls",
    "ssl": "tls",
}
# Internal patterns use the stdlib engine (faster for simple ones); signatures use `regex`.
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,15}")
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}|localhost")
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}")
_BARE = re.compile(r"(?P<host>\[[0-9a-fA-F:.]+\]|[^\s/:?#\[\]@]+)(?::(?P<port>[0-9]{1,5}))?(?P<rest>[/?#]\S*)?")


@dataclass(frozen=True, slots=True)
class Destination:
    """One outbound endpoint: ``host`` lower-cased (IPv6 without brackets), ``port`` (the
    scheme's default when none was written; None for ``icmp``), ``scheme`` (``dns`` for a
    name lookup only), whether ``host`` is an IP literal (a DNS-only egress block would not
    stop it), the ``url`` when there was one, and ``wildcard``: ``host`` is the fixed suffix of
    a name built at run time (shown as ``*.host``)."""

    host: str
    port: int | None
    scheme: str
    ip_literal: bool
    url: str | None = None
    wildcard: bool = False

    @property
    def shown_host(self) -> str:
        """``host`` as reports show it: ``*.x.example`` for a wildcard, IPv6 in brackets."""
        if ":" in self.host:
            return f"[{self.host}]"
        return f"*.{self.host}" if self.wildcard else self.host

    @property
    def key(self) -> tuple[str, int | None, str, bool]:
        return (self.host, self.port, self.scheme, self.wildcard)

    @property
    def via_resolver(self) -> bool:
        """A DNS-only callback: the local resolver makes the lookup, as its own user."""
        return self.scheme == "dns"

    def endpoint(self) -> str:
        return f"{self.scheme}://{self.shown_host}" + (f":{self.port}" if self.port is not None else "")

    def as_dict(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "scheme": self.scheme,
            "ip_literal": self.ip_literal,
            "url": self.url,
            "wildcard": self.wildcard,
        }


def add_destination(dests: list[Destination], d: Destination) -> None:
    """Append ``d`` unless ``dests`` already has its endpoint (host, port, scheme, wildcard): one
    payload may spell the same URL twice (``shell.txt`` and ``shell.txt?``); the first is kept."""
    if all(x.key != d.key for x in dests):
        dests.append(d)


# The receiving host and its own networks: loopback, RFC 1918, shared (CGN), link-local (cloud
# metadata), unique-local. Documentation ranges (192.0.2.0/24 ...) stand for the internet.
_LOCAL_NETS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def external(d: Destination) -> bool:
    """Whether ``d`` lies outside the receiving host and its private networks: a name other than
    ``localhost`` (or ``*.local``/``*.internal``), or an address outside `_LOCAL_NETS` that is
    not loopback, link-local, multicast or unspecified."""
    if not d.ip_literal:
        return d.host != "localhost" and not d.host.endswith((".localhost", ".local", ".internal"))
    try:
        ip = ipaddress.ip_address(d.host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return False
    return not any(ip.version == n.version and ip in n for n in _LOCAL_NETS)


def normalise_host(raw: str) -> tuple[str, bool] | None:
    """(host, ip_literal) for a hostname or IP as a tool would resolve it, else None.

    Handles IPv6 brackets, trailing dots, and the inet_aton spellings droppers use to dodge
    IP filters (``0xcb007109``, ``3405803785``, ``0313.0.0161.011``)."""
    h = raw.strip().strip("[]").rstrip(".").lstrip(".-").lower()
    if "%" in h:  # IPv6 zone id
        h = h.split("%", 1)[0]
    if not h:  # also "%..." alone: nothing before the zone id
        return None
    if ":" in h or h[0].isdigit():  # only then can it be an IP address
        try:
            return str(ipaddress.ip_address(h)), True
        except ValueError:
            pass
    if _NUMERIC_HOST.fullmatch(h):
        try:
            ip = socket.inet_ntoa(socket.inet_aton(h))
        except OSError:
            return None
        # 0.0.0.0/8 is no destination: a small number ("1" of "-H 'X: 1'") is an argument
        return (ip, True) if not ip.startswith("0.") else None
    if len(h) <= 253 and _HOSTNAME.fullmatch(h):
        return h, False
    return None


# A part of a host name that only exists at run time: a substitution ($(..), `..`, ${..}, $VAR,
# %VAR%) or an empty label (what a resolved log4j lookup leaves: 123..x.example, .x.example).
_RUNTIME = re.compile(r"[`$(){}%]|\.\.|^\.")
_IPV6_ZONE = re.compile(r"[0-9a-f:.]*:[0-9a-f:.]*(?:%.*)?")


def runtime_suffix(host: str) -> str | None:
    """The fixed suffix of a host name built at run time (``$(whoami).x.example`` ->
    ``x.example``), '' when the name is built at run time but has no usable suffix, None when
    nothing in it is built at run time."""
    h = host.strip().lower()
    if _IPV6_ZONE.fullmatch(h):  # an IPv6 address: its zone id may hold a %
        return None
    marks = list(_RUNTIME.finditer(h))
    if not marks:
        return None
    last = marks[-1]
    rest = h[last.end() - 1 :] if last.group().endswith(".") else h[last.end() :]  # an empty label ends at a dot
    if not rest.startswith("."):  # the label holding the substitution is partly unknown
        rest = rest[rest.find(".") :] if "." in rest else ""
    rest = rest.strip(".")
    if "." not in rest or not _HOSTNAME.fullmatch(rest) or _NUMERIC_HOST.fullmatch(rest):
        return ""
    return rest


def _port(raw: str | None, scheme: str) -> int | None:
    if raw:
        try:
            p = int(raw)
        except ValueError:
            p = 0
        if 0 < p < 65536:
            return p
    return DEFAULT_PORTS.get(scheme)


def from_url(text: str, default_scheme: str | None = "http") -> Destination | None:
    """A destination from ``scheme://host[:port]/…`` or, with a default scheme, ``host[:port]/…``."""
    t = text.strip().strip("'\"`()<>,;{}")
    if not t:
        return None
    if "://" in t:
        scheme = t.split("://", 1)[0].lower()
        if not _SCHEME.fullmatch(scheme):
            return None
        try:
            parts = urlsplit(t)
            host = parts.hostname
            try:
                port_raw = str(parts.port) if parts.port is not None else None
            except ValueError:
                port_raw = None
        except ValueError:
            return None
        if not host:
            return None
        suffix = runtime_suffix(host)
        if suffix is not None:
            return Destination(suffix, _port(port_raw, scheme), scheme, False, t, wildcard=True) if suffix else None
        norm = normalise_host(host)
        if norm is None:
            return None
        return Destination(norm[0], _port(port_raw, scheme), scheme, norm[1], t)
    if t.startswith("\\\\"):  # UNC path: \\host\share -> SMB
        norm = normalise_host(t[2:].split("\\", 1)[0].split("@", 1)[0])
        return Destination(norm[0], 445, "smb", norm[1], t) if norm else None
    if default_scheme is None:
        return None
    m = _BARE.match(t)
    if not m:
        return None
    scheme = default_scheme
    url = f"{scheme}://{t}" if m.group("rest") or m.group("port") else None
    suffix = runtime_suffix(m.group("host"))
    if suffix is not None:
        port = _port(m.group("port"), scheme)
        return Destination(suffix, port, scheme, False, url, wildcard=True) if suffix else None
    norm = normalise_host(m.group("host"))
    if norm is None:
        return None
    return Destination(norm[0], _port(m.group("port"), scheme), scheme, norm[1], url)


def from_host_port(host: str, port: str | None, scheme: str) -> Destination | None:
    suffix = runtime_suffix(host.strip("'\"`"))
    if suffix is not None:
        return Destination(suffix, _port(port, scheme), scheme, False, wildcard=True) if suffix else None
    norm = normalise_host(host)
    if norm is None:
        return None
    p = _port(port, scheme)
    return Destination(norm[0], p, scheme, norm[1])


def lookup(name: str, tool: str = "") -> Destination | None:
    """The destination of a name lookup: ``dns`` port 53 for a name (a wildcard when built at
    run time); ``ping`` of an IP literal is ``icmp`` with no port; other tools given an IP
    literal make a reverse lookup, which names no one."""
    d = from_host_port(name.strip("'\"`,;()"), None, "dns")
    if d is None or not d.ip_literal:
        return d if d is None or "." in d.host else None
    return Destination(d.host, None, "icmp", True) if tool.startswith("ping") else None


# --- argv extraction -------------------------------------------------------------------------
# Options that take a value, per tool (the value is skipped, never mistaken for a host).
_VALUE_OPTS = {
    "wget": set("OoaPUetTwQiBlARDIX")
    | {
        "--output-document",
        "--output-file",
        "--directory-prefix",
        "--tries",
        "--timeout",
        "--user-agent",
        "--header",
        "--post-data",
        "--referer",
        "--user",
        "--password",
        "--execute",
        "--input-file",
    },
    "curl": set("oAHdeuxbcTXmrwKFEYyzCQ")
    | {
        "--output",
        "--user-agent",
        "--header",
        "--data",
        "--referer",
        "--user",
        "--proxy",
        "--cookie",
        "--upload-file",
        "--request",
        "--max-time",
        "--connect-timeout",
        "--retry",
        "--data-binary",
        "--data-raw",
        "--form",
        "--resolve",
        "--cert",
        "--url",
    },
    "fetch": set("oTSNaB") | {"--output", "--user-agent"},
    "lynx": set(),
    "lwp-download": set(),
    "tftp": set("rlmb"),
    "ftpget": set("uPp"),
    "nc": set("ecpsSwiIqTxXOoMmK") | {"--exec", "--sh-exec", "--source-port", "--source", "--wait", "--proxy"},
    "telnet": set("lbneE"),
    "ping": set("cisStwWIpQlmMF") | {"--count", "--interface", "--size", "--ttl"},
    "nslookup": set(),
    "dig": set("bcfkpqtxy"),
    "host": set("cNRtW"),
    "getent": {"-s", "--service"},
    "resolve-dnsname": set(),
}
_TOOL_ALIASES = {
    "ncat": "nc",
    "netcat": "nc",
    "nc.traditional": "nc",
    "nc.openbsd": "nc",
    "busybox": "",
    "curl.exe": "curl",
    "wget.exe": "wget",
    "lwp-request": "lwp-download",
    "get": "lwp-download",
    "tnftp": "ftpget",
    "ftpput": "ftpget",
    "ping6": "ping",
    "ping.exe": "ping",
    "nslookup.exe": "nslookup",
}
_LOOKUP_TOOLS = ("ping", "nslookup", "dig", "host", "getent", "resolve-dnsname")
_STOP = set(";|&\n`)") | {">", "<", ">>", "2>", "2>&1", "&&", "||"}
_SUBSTITUTED_LABEL = re.compile(r"`[^`\s]{1,64}`\.")  # `whoami`.x.example: a run-time label, not a separator


def _tokens(args: str) -> list[str]:
    out = []
    for tok in args.split():
        if tok in _STOP or (tok[0] in ";|&`)>" and not _SUBSTITUTED_LABEL.match(tok)):
            break
        out.append(tok)
        if len(out) > 64:
            break
    return out


def _positional(tool: str, toks: list[str]) -> tuple[list[str], dict[str, str], set[str]]:
    """Split tokens into positional arguments, option values and bare flags."""
    takes = _VALUE_OPTS.get(tool, set())
    pos: list[str] = []
    values: dict[str, str] = {}
    flags: set[str] = set()
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.startswith("--") and len(t) > 2:
            name, eq, val = t.partition("=")
            if eq:
                values[name] = val
            elif name in takes and i + 1 < len(toks):
                values[name] = toks[i + 1]
                i += 1
            else:
                flags.add(name)
        elif t.startswith("-") and len(t) > 1 and not t[1].isdigit():
            cluster = t[1:]
            for j, ch in enumerate(cluster):
                if ch in takes:
                    rest = cluster[j + 1 :]
                    if rest:
                        values["-" + ch] = rest
                    elif i + 1 < len(toks):
                        values["-" + ch] = toks[i + 1]
                        i += 1
                    break
                flags.add("-" + ch)
        else:
            pos.append(t)
        i += 1
    return pos, values, flags


def _looks_remote(tok: str) -> bool:
    if tok.startswith("$"):  # $(whoami).x.example is a name; $HOME/x is not
        return bool(runtime_suffix(tok.split("/", 1)[0]))
    return "://" in tok or tok.startswith("\\\\") or not tok.startswith(("/", ".", "~"))


def from_argv(tool: str, args: str, default_scheme: str | None) -> list[Destination]:
    """Destinations in the argument list of a download or socket tool."""
    name = tool.lower().rsplit("/", 1)[-1]
    name = _TOOL_ALIASES.get(name, name)
    toks = _tokens(args)
    if name == "" and toks:  # busybox wget ... -> the applet is the first word
        name = _TOOL_ALIASES.get(toks[0].lower(), toks[0].lower())
        toks = toks[1:]
    pos, values, flags = _positional(name, toks)
    out: list[Destination] = []
    if name in _LOOKUP_TOOLS:
        if name == "getent":  # getent hosts NAME: the first word is the database
            pos = pos[1:] if pos and pos[0].lower() in ("hosts", "ahosts", "ahostsv4", "ahostsv6") else []
        for tok in pos:
            if tok.startswith("@"):  # dig @server: the resolver asked, not the name
                continue
            d = lookup(tok, name)
            if d is not None:
                return [d]
        return []
    if name in ("nc", "telnet"):
        if "-l" in flags or "--listen" in flags:
            return []  # a listener (bind shell) makes no outbound connection
        scheme = "udp" if "-u" in flags and name == "nc" else ("telnet" if name == "telnet" else "tcp")
        if pos:
            port = pos[1] if len(pos) > 1 and pos[1].isdigit() else None
            if port is None and name == "nc":
                return []
            d = from_host_port(pos[0], port, scheme)
            return [d] if d else []
        return []
    if name == "tftp":
        # tftp [-g|-p] [-r remote] [-l local] host [port]
        hosts = [p for p in pos if normalise_host(p.split(":")[0])]
        if hosts:
            port = pos[pos.index(hosts[0]) + 1] if pos.index(hosts[0]) + 1 < len(pos) else None
            d = from_host_port(hosts[0], port if port and port.isdigit() else None, "tftp")
            return [d] if d else []
        return []
    if name == "ftpget":
        if pos:
            d = from_host_port(pos[0], values.get("-P"), "ftp")
            return [d] if d else []
        return []
    for key in ("--url",):
        if key in values:
            pos.insert(0, values[key])
    for tok in pos:
        if not _looks_remote(tok):
            continue
        d = from_url(tok, default_scheme or "http")
        if d and d not in out:
            out.append(d)
    return out


_LIST_QUOTES = re.compile(r"\\?[\"']")


def extract(match: regex.Match[str], mode: str, default_scheme: str | None) -> list[Destination]:
    """Destinations named by one signature match (see the module docstring)."""
    groups = match.groupdict()
    if mode == "none":
        return []
    if mode == "argv" and groups.get("args") is not None:
        return from_argv(groups.get("tool") or "", groups["args"], default_scheme)
    if mode == "argv-list" and groups.get("args") is not None:  # "a","b" (or a,b: quotes removed)
        args = _LIST_QUOTES.sub("", groups["args"]).replace(",", " ")
        return from_argv(groups.get("tool") or "", args, default_scheme)
    out: list[Destination] = []
    if groups.get("url"):
        for url in match.captures("url"):
            d = from_url(url, default_scheme)
            if d and d not in out:
                out.append(d)
    elif groups.get("host"):
        scheme = (groups.get("scheme") or default_scheme or "tcp").lower()
        scheme = SCHEME_ALIASES.get(scheme, scheme)
        d = from_host_port(groups["host"], groups.get("port"), scheme)
        if d:
            out.append(d)
    return out
