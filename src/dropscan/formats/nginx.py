"""nginx ``log_format`` strings, translated into the Apache LogFormat they are equivalent to.

nginx's default ``combined`` is Apache's ``combined`` byte for byte, and its escaping of
variables (``\\x22`` for a double quote, ``\\xHH`` for other bytes) is a subset of what
`dropscan.formats.logformat.apache_unescape` undoes; so an nginx format is compiled by mapping each
variable to the Apache directive that logs the same thing. Variables that carry no request text
(timings, upstream fields, ids) become ``%{name}n``: parsed as one field, not inspected.
"""

from __future__ import annotations

import re

from ..errors import UsageError
from .logformat import LogFormat

# nginx variable -> Apache directive
_DIRECT = {
    "remote_addr": "%h",
    "realip_remote_addr": "%a",
    "remote_user": "%u",
    "time_local": "%{%d/%b/%Y:%H:%M:%S %z}t",
    "time_iso8601": "%{iso8601}t",
    "request": "%r",
    "status": "%>s",
    "body_bytes_sent": "%B",
    "bytes_sent": "%O",
    "request_length": "%I",
    "request_method": "%m",
    "request_uri": "%U",
    "uri": "%U",
    "document_uri": "%U",
    "args": "%q",
    "query_string": "%q",
    "server_protocol": "%H",
    "host": "%v",
    "server_name": "%v",
    "server_port": "%p",
    "remote_port": "%{remote}p",
    "pid": "%P",
}
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z0-9_]+)\}|(?P<name>[A-Za-z0-9_]+))")


def is_nginx(spec: str) -> bool:
    return _VAR.search(spec) is not None and "%" not in spec.replace("%%", "")


def translate(spec: str) -> str:
    """The Apache LogFormat equivalent of an nginx ``log_format`` string."""
    text = spec.replace("%", "%%")
    text = text.replace("[$time_local]", "%t").replace("[${time_local}]", "%t")

    def one(m: re.Match[str]) -> str:
        var = m.group("braced") or m.group("name")
        if var in _DIRECT:
            return _DIRECT[var]
        if var.startswith("http_"):
            return "%{" + var[5:].replace("_", "-") + "}i"
        if var.startswith("cookie_"):
            return "%{" + var[7:] + "}C"
        return "%{" + var + "}n"

    return _VAR.sub(one, text)


def compile_spec(spec: str) -> LogFormat | None:
    if not is_nginx(spec):
        return None
    fmt = translate(spec)
    try:
        return LogFormat(fmt, spec)
    except UsageError as e:
        raise UsageError(f"nginx log_format {spec!r}: {e}") from None
