"""Log formats: one module per family behind one interface (see `dropscan.formats.base`).

* `compile_format(spec)`: a name or format string -> a compiled format (cached per process);
* `detect_format(lines)`: the format that parses most of a file's first lines, or ``None``.

Families, tried in this order (ties go to the earlier, more specific one): W3C extended (IIS,
CloudFront; they announce themselves with ``#Fields:``), JSON lines, the fixed-layout proxies
(ALB, ELB, HAProxy, Envoy), then Apache-style lines (lighttpd, the presets, a preset with
trailing fields). nginx ``log_format`` strings are accepted by `compile_format`; nginx's own
``combined`` is Apache's.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ..errors import UsageError
from . import apache, jsonl, nginx, proxies, w3c
from .base import UNION, UnionFormat

#: the names ``--log-format`` accepts (besides LogFormat, nginx log_format and json:KEY=… strings)
NAMES = (
    *apache.NAMES,
    "json",
    "json:caddy",
    "json:traefik",
    "json:ecs",
    "json:nginx",
    "w3c",
    "cloudfront",
    *proxies.BUILDERS,
)
DETECT_LINES = 200


@lru_cache(maxsize=64)
def compile_format(spec: str):
    """A format name, ``PRESET+ TAIL``, ``json[:…]``, ``w3c[:fields]``, ``cloudfront[:fields]``,
    an Apache LogFormat string or an nginx log_format string -> a compiled format."""
    if UNION in spec:
        return UnionFormat([compile_format(p) for p in spec.split(UNION)])
    if spec == "json" or spec.startswith("json:"):
        return jsonl.JsonFormat(spec)
    for family in (w3c, proxies, nginx, apache):
        fmt = family.compile_spec(spec)
        if fmt is not None:
            return fmt
    raise UsageError(
        f"unknown log format {spec!r}: use one of {', '.join(NAMES)}, an Apache LogFormat or an nginx log_format string"
    )


def detect_format(lines: Iterable[bytes]):
    """The format that parses most of the given lines (``None`` if none parses a request)."""
    sample = [ln for ln in lines if ln.strip()][:DETECT_LINES]
    best, count = _best(sample)
    if best is None or count == len(sample):
        return best
    rest = [ln for ln in sample if not best.match(ln)]
    other, _ = _best(rest)  # a second format on the lines the first leaves
    return UnionFormat([best, other]) if other is not None else best


def _best(sample: list[bytes]):
    """(the format that parses most of ``sample``, how many lines); (None, 0) for none."""
    if not sample:
        return None, 0
    # The common case first: a file every line of which an Apache preset parses exactly is
    # that preset (no other family parses such lines: they are tried for the rest).
    exact, count = apache.detect_exact(sample)
    if exact is not None and count == len(sample):
        return exact, count
    best, best_count = None, 0
    for family in (w3c, jsonl, proxies, apache):
        fmt, count = family.detect(sample)
        if fmt is not None and count > best_count:
            best, best_count = fmt, count
        if best_count == len(sample):
            break
    return best, best_count
