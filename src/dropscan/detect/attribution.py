"""Who sent a request: the client behind the proxies you trust.

A request that crossed proxies carries its path in ``X-Forwarded-For`` (``client, proxy1,
proxy2``) and arrives from the last hop (the peer the server logged). Only your own proxies
append honestly; whatever the client wrote itself comes first. So, as mod_remoteip and nginx's
realip do, the chain ``forwarded-for entries + peer`` is read from the right, skipping the
addresses in the trusted networks (``--trusted-proxy CIDR``): the first one that is not trusted
is the client. With no trusted network the client is the peer itself, whatever the header says.
An entry that is no IP address stops the walk (the last trusted hop is then the client).

``peer_ip`` is always the connection as logged. Neither is ever a destination: destinations
come only from payloads (`dropscan.detect.egress`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ..errors import UsageError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``--trusted-proxy`` values (repeatable, comma-separated) -> networks; a bad one is a
    usage error naming it."""
    out: list[Network] = []
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                out.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise UsageError(f"--trusted-proxy: {part!r} is not an IP address or CIDR network") from None
    return tuple(out)


def _address(entry: str) -> str | None:
    """``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``, ``2001:db8::1`` -> the address."""
    e = entry.strip().strip('"')
    if e.startswith("["):
        e = e[1 : e.find("]")] if "]" in e else ""
    elif e.count(":") == 1:
        e = e.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(e))
    except ValueError:
        return None


def attribute(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str | None:
    """The client address (see the module docstring); the peer when nothing better is known."""
    if not forwarded_for or not trusted:
        return peer if peer or not forwarded_for else _rightmost(forwarded_for)
    chain = [e for e in forwarded_for.split(",") if e.strip()]
    client = peer
    if peer is not None:
        addr = _address(peer)
        if addr is None or not _trusted(addr, trusted):
            return peer
    for entry in reversed(chain):
        addr = _address(entry)
        if addr is None:
            return client
        client = addr
        if not _trusted(addr, trusted):
            return addr
    return client


def _rightmost(forwarded_for: str) -> str | None:
    """No peer logged (Envoy's default format): the hop nearest to the server."""
    for entry in reversed(forwarded_for.split(",")):
        addr = _address(entry)
        if addr is not None:
            return addr
    return None


def _trusted(addr: str, trusted: tuple[Network, ...]) -> bool:
    ip = ipaddress.ip_address(addr)
    return any(ip.version == n.version and ip in n for n in trusted)
