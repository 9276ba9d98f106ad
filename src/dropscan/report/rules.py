"""Firewall rules to paste: default-deny outbound for the web server's user, plus explicit
rejects for every IP a payload named.

The policy is the one the 2009 phpMyAdmin/X0-locker write-up recommends: the web server's user
has no business opening connections, so for that user (an owner match, ``--uid-owner`` /
``meta skuid``) allow loopback and established/related traffic (answers to visitors), optionally
DNS (``--allow-dns``), LOG every other new outbound connection with the user id (``--log-uid`` /
``log flags skuid``, so `dropscan.report.fwlog` can prove who tried), then reject. Rejects for the IP
literals found come first with their own log prefix, so a hit on a known dropper stands out
even where the default-deny is relaxed for the application's own needs.

Hostnames never become rules: a firewall resolves a name once, at load time, if at all, and
droppers rotate addresses. They are listed as comments; the default-deny is what stops the
connection to them.

DNS callbacks (``ping``/``nslookup`` of a name, destinations with scheme ``dns``) are listed
apart, "via resolver": the local resolver (systemd-resolved, nscd, dnsmasq) makes the lookup as
its own user, so no rule for the web user stops them, and a rule that seemed to would be false
comfort. What stops them is the resolver: an allowlist of the names the application needs, or a
sinkhole; ``dropscan-callbacks.rpz`` (written with ``--output-dir``; its records are in every
rules file's header too) is an RPZ zone (BIND, Unbound, Knot, PowerDNS) answering NXDOMAIN for
each name and every name under it.

Addresses that are not on the Internet are never rule targets (`never_target`): private (RFC
1918, ULA), shared/CGNAT (100.64/10), loopback, link-local, multicast, unspecified, broadcast
and reserved (240/4) ones: a payload naming ``10.1.2.3`` is an attacker pointing at (or forging)
an internal address, and rejecting it could cut the web user off from its own database. They
are listed as comments saying why. Documentation ranges (192.0.2/24, 198.51.100/24,
203.0.113/24, 2001:db8::/32) stay targets: they route nowhere, so a rule for them harms
nothing, and they are what examples and tests use for attackers.

Rules come only from findings on parsed records of recognised access logs: a destination seen
only on lines that were not parsed as requests (``field == "line"``: an ``X-Forwarded-For``
fragment, a syslog line) is listed as a comment, unless ``include_unparsed`` makes it a target
(its comment then says so).

Every address is re-validated with `ipaddress` before it is written, and every comment is
reduced to ``[a-z0-9.:_-]``: log-derived text can never break out of a comment or a rule.

Syntax: ufw 0.36 (``ufw prepend reject out log to IP``; ``insert 1`` fails on an empty ruleset)
and an owner-match block for ``/etc/ufw/before.rules``/``before6.rules``; ``iptables-restore`` /
``ip6tables-restore`` files; one ``nft -f`` file (table ``inet dropscan_egress``). The test suite
checks them with ``nft -c -f``, ``iptables-restore --test`` and ``ufw --dry-run``.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections import defaultdict
from dataclasses import dataclass, field

from ..errors import UsageError
from .egress_report import DestinationStats, Report, sinkhole_lines

FIREWALLS = ("ufw", "iptables", "nftables")
RPZ_FILE = "dropscan-callbacks.rpz"
DROPPER_PREFIX = "[DROPSCAN DROPPER] "
EGRESS_PREFIX = "[DROPSCAN EGRESS] "
LOG_LIMIT = (10, 20)  # per minute, burst: enough to prove an attempt, too few to flood syslog
NFT_TABLE = "dropscan_egress"
IPT_CHAIN = "DROPSCAN-EGRESS"

_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}\$?|[0-9]{1,10}")
_UNSAFE = re.compile(r"[^a-z0-9.:_-]+")


def check_user(user: str) -> str:
    """A user name or numeric uid that is safe to write into any rule syntax."""
    if not _USER.fullmatch(user):
        raise UsageError(f"--user {user!r}: expected a user name (like www-data) or a numeric uid")
    return user


def safe(text: object) -> str:
    """Text for a comment: lower-cased, only ``[a-z0-9.:_-]``, at most 100 characters."""
    return _UNSAFE.sub("_", str(text).lower())[:100] or "_"


_NEVER = [
    (ipaddress.ip_network(net), why)
    for nets, why in (
        (("0.0.0.0/8", "::/128"), "unspecified"),
        (("127.0.0.0/8", "::1/128"), "loopback"),
        (("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"), "private (RFC 1918)"),
        (("fc00::/7", "fec0::/10"), "private (unique local / site-local)"),
        (("100.64.0.0/10",), "shared address space (CGNAT, RFC 6598)"),
        (("169.254.0.0/16", "fe80::/10"), "link-local"),
        (("224.0.0.0/4", "ff00::/8"), "multicast"),
        (("240.0.0.0/4",), "reserved or broadcast"),
        (("192.0.0.0/24",), "IETF protocol assignments"),
    )
    for net in nets
]


def never_target(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a reject rule may not name this address (see the module docstring), or ``None``."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return next((why for net, why in _NEVER if ip.version == net.version and ip in net), None)


@dataclass(slots=True)
class Target:
    """One address to reject, with what the report knows about it (for its comment)."""

    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    findings: int = 0
    confirmed: bool = False
    endpoints: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    unparsed: int = 0  # of findings, those on lines not parsed as requests (only with include_unparsed)

    def comment(self) -> str:
        eps = " ".join(sorted(safe(e) for e in self.endpoints))
        on = " ".join(sorted(safe(h) for h in self.hosts))
        n = f"{self.findings} finding{'s' if self.findings != 1 else ''}"
        text = f"{self.ip}: {eps}, {n}" + (", CONFIRMED by firewall log" if self.confirmed else "")
        if self.unparsed:
            text += f", {self.unparsed} of them on lines NOT parsed as requests (--include-unparsed)"
        return text + f", on {on}"


@dataclass(slots=True)
class Plan:
    """What the rules are made of: addresses by family, names and skipped addresses as comments."""

    user: str
    allow_dns: bool
    v4: list[Target]
    v6: list[Target]
    names: list[str]
    skipped: list[str]
    hosts: list[str]
    findings: int
    callbacks: list[str] = field(default_factory=list)  # DNS callbacks, as comments
    callback_names: list[str] = field(default_factory=list)  # the names to sinkhole
    unparsed: list[str] = field(default_factory=list)  # addresses seen only on unparsed lines
    incomplete: list[str] = field(default_factory=list)  # inputs that failed


def _endpoint(d: DestinationStats) -> str:
    return f"{d.scheme}:{d.port}" if d.port is not None else d.scheme


def _name(d: DestinationStats) -> str:
    return ("*." if d.wildcard else "") + safe(d.host)


def plan(report: Report, user: str = "www-data", allow_dns: bool = False, include_unparsed: bool = False) -> Plan:
    check_user(user)
    targets: dict[str, Target] = {}
    names: dict[str, list[str]] = defaultdict(list)
    callbacks: dict[str, list[str]] = defaultdict(list)
    skipped: list[str] = []
    unparsed: list[str] = []
    for h in report.hosts:
        for d in h.destinations:
            if d.via_resolver:
                callbacks[_name(d)].append(f"{safe(_endpoint(d))} ({d.findings}) on {safe(h.host)}")
                continue
            if not d.ip_literal:
                names[_name(d)].append(f"{safe(_endpoint(d))} ({d.findings}) on {safe(h.host)}")
                continue
            try:
                ip = ipaddress.ip_address(d.host)
            except ValueError:
                continue
            why = never_target(ip)
            if why:
                skipped.append(f"{ip} {safe(_endpoint(d))} on {safe(h.host)}: {why}, never a rule target")
                continue
            if d.unparsed == d.findings and not include_unparsed:
                unparsed.append(f"{ip} {safe(_endpoint(d))} on {safe(h.host)} ({d.findings})")
                continue
            t = targets.setdefault(str(ip), Target(ip))
            t.findings += d.findings
            t.unparsed += d.unparsed
            t.confirmed = t.confirmed or d.confirmed
            t.endpoints.add(_endpoint(d))
            t.hosts.add(h.host)
    order = sorted(targets.values(), key=lambda t: (not t.confirmed, -t.findings, t.ip.version, t.ip))
    return Plan(
        user=user,
        allow_dns=allow_dns,
        v4=[t for t in order if t.ip.version == 4],
        v6=[t for t in order if t.ip.version == 6],
        names=[f"{n}: {', '.join(v)}" for n, v in sorted(names.items())],
        skipped=sorted(set(skipped)),
        hosts=[safe(h.host) for h in report.needing_block],
        findings=report.findings,
        callbacks=[f"{n}: {', '.join(v)}" for n, v in sorted(callbacks.items())],
        callback_names=sorted({d.host for h in report.hosts for d in h.resolver_callbacks}),
        unparsed=sorted(set(unparsed)),
        incomplete=[safe(e) for e in report.errors],
    )


# --- shared comment blocks -----------------------------------------------------------------------
def _header(p: Plan, what: str) -> list[str]:
    hosts = ", ".join(p.hosts) if p.hosts else "none"
    out = [
        f"# dropscan egress rules ({what}) for the web server user {p.user}",
        f"# from {p.findings} finding(s); hosts that need egress blocking: {hosts}",
        "# Review before loading: attackers choose these addresses. Allow what your web application",
        "# must reach (database, mail relay, APIs) where marked, or it will be cut off too.",
    ]
    if p.names:
        out.append("# Destinations named by hostname (no rule: a firewall resolves a name once, if at all;")
        out.append("# the default-deny below stops the connection; the name lookup still leaves through the resolver):")
        out += [f"#   {n}" for n in p.names]
    if p.callbacks:
        out.append("# DNS callbacks, via resolver: the local resolver (systemd-resolved, nscd, dnsmasq) looks")
        out.append("# these up as its own user, so NO rule in this file stops them. Stop them at the resolver:")
        out.append("# allow only the names the application needs, or sinkhole them: --output-dir also writes")
        out.append(f"# {RPZ_FILE}, an RPZ zone answering NXDOMAIN for each name and every name under it:")
        out += [f"#   {n}" for n in p.callbacks]
        out.append("# Its records:")
        out += [f"#   {line}" for line in sinkhole_lines(p.callback_names)]
    if p.skipped:
        out.append("# Not rejected (addresses that are not on the Internet):")
        out += [f"#   {s}" for s in p.skipped]
    if p.unparsed:
        out.append("# Not rejected (seen only on lines that were not parsed as requests; --include-unparsed):")
        out += [f"#   {s}" for s in p.unparsed]
    if p.incomplete:
        out.append("# INCOMPLETE: these inputs could not be read, so addresses may be missing:")
        out += [f"#   {s}" for s in p.incomplete]
    return out


def _targets(ts: list[Target]) -> list[str]:
    return [f"#   {t.comment()}" for t in ts]


# --- nftables ----------------------------------------------------------------------------------
def nftables(p: Plan) -> dict[str, str]:
    who = p.user if p.user.isdigit() else f'"{p.user}"'
    rate = f"limit rate {LOG_LIMIT[0]}/minute burst {LOG_LIMIT[1]} packets"
    lines = ["#!/usr/sbin/nft -f", *_header(p, "nftables")]
    lines += [
        "# Check: nft -c -f dropscan-egress.nft    Load: nft -f dropscan-egress.nft",
        f"# The table inet {NFT_TABLE} is replaced as a whole on every load; other tables (ufw,",
        "# firewalld, docker) are untouched. Add an address later:",
        f"#   nft add element inet {NFT_TABLE} dropper_v4 '{{ 192.0.2.1 }}'",
    ]
    if p.v4 or p.v6:
        lines.append("# Addresses rejected:")
        lines += _targets(p.v4 + p.v6)
    lines += ["", f"table inet {NFT_TABLE}", f"delete table inet {NFT_TABLE}", "", f"table inet {NFT_TABLE} {{"]
    for name, typ, ts in (("dropper_v4", "ipv4_addr", p.v4), ("dropper_v6", "ipv6_addr", p.v6)):
        lines += [f"    set {name} {{", f"        type {typ}"]
        if ts:
            lines.append("        elements = {")
            lines += [f"            {t.ip}," for t in ts]
            lines.append("        }")
        lines.append("    }")
    lines += [
        "",
        "    chain output {",
        "        type filter hook output priority filter; policy accept;",
        f"        meta skuid {who} jump web_egress",
        "    }",
        "",
        "    chain web_egress {",
        '        oifname "lo" accept',
        "        ct state established,related accept",
    ]
    for fam, name in (("ip", "dropper_v4"), ("ip6", "dropper_v6")):
        lines += [
            f'        {fam} daddr @{name} {rate} log prefix "{DROPPER_PREFIX}" flags skuid',
            f"        {fam} daddr @{name} counter reject with icmpx admin-prohibited",
        ]
    if p.allow_dns:
        lines += ["        udp dport 53 accept", "        tcp dport 53 accept"]
    lines += [
        "        # Allow here what the web application must reach, for example:",
        "        #   ip daddr 192.0.2.5 tcp dport 3306 accept",
        f'        ct state new {rate} log prefix "{EGRESS_PREFIX}" flags skuid',
        "        meta l4proto tcp counter reject with tcp reset",
        "        counter reject with icmpx admin-prohibited",
        "    }",
        "}",
    ]
    return {"dropscan-egress.nft": "\n".join(lines) + "\n"}


# --- iptables (owner match) ----------------------------------------------------------------------
def _owner_rules(p: Plan, chain: str, match: str, ts: list[Target], v6: bool) -> list[str]:
    """The web-user rules in iptables syntax; ``match`` is prepended to every rule (the owner
    match when the chain is shared, as ufw's ``ufw-before-output`` is)."""
    reject = "icmp6-adm-prohibited" if v6 else "icmp-admin-prohibited"
    limit = f"-m limit --limit {LOG_LIMIT[0]}/min --limit-burst {LOG_LIMIT[1]}"
    a = f"-A {chain} {match}".rstrip()
    out = []
    for t in ts:
        out += [
            f'{a} -d {t.ip} {limit} -j LOG --log-prefix "{DROPPER_PREFIX}" --log-uid',
            f"{a} -d {t.ip} -j REJECT --reject-with {reject}",
        ]
    if p.allow_dns:
        out += [f"{a} -p udp --dport 53 -j ACCEPT", f"{a} -p tcp --dport 53 -j ACCEPT"]
    out += [
        "# Allow here what the web application must reach, for example:",
        f"#   {a} -d {'2001:db8::5' if v6 else '192.0.2.5'} -p tcp --dport 3306 -j ACCEPT",
        f'{a} -m conntrack --ctstate NEW {limit} -j LOG --log-prefix "{EGRESS_PREFIX}" --log-uid',
        f"{a} -p tcp -j REJECT --reject-with tcp-reset",
        f"{a} -j REJECT --reject-with {reject}",
    ]
    return out


def iptables(p: Plan) -> dict[str, str]:
    files = {}
    for name, tool, ts, v6 in (("rules.v4", "iptables", p.v4, False), ("rules.v6", "ip6tables", p.v6, True)):
        lines = [
            *_header(p, tool),
            f"# Check: {tool}-restore --test {name}",
            f"# Load:  {tool}-restore --noflush {name}",
            f"#   (without --noflush, {tool}-restore replaces the whole filter table). Loading twice adds the",
            "#   OUTPUT jump twice; remove it first:",
            f"#   {tool} -D OUTPUT -m owner --uid-owner {p.user} -j {IPT_CHAIN}",
        ]
        if ts:
            lines.append("# Addresses rejected:")
            lines += _targets(ts)
        lines += [
            "*filter",
            f":{IPT_CHAIN} - [0:0]",
            f"-A OUTPUT -m owner --uid-owner {p.user} -j {IPT_CHAIN}",
            f"-A {IPT_CHAIN} -o lo -j ACCEPT",
            f"-A {IPT_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            *_owner_rules(p, IPT_CHAIN, "", ts, v6),
            "COMMIT",
        ]
        files[name] = "\n".join(lines) + "\n"
    return files


# --- ufw -----------------------------------------------------------------------------------------
def ufw(p: Plan) -> dict[str, str]:
    cmds = [
        "#!/bin/sh",
        *_header(p, "ufw"),
        "# These reject and log outbound traffic to each address for EVERY user of this host (ufw has",
        "# no owner match; the web-user default-deny is in before.rules.snippet). ufw's own log lines",
        "# carry no UID=; the before.rules lines do.",
        "set -e",
    ]
    for t in p.v4 + p.v6:
        cmds.append(f"# {t.comment()}")
        n = f"dropscan {t.findings} finding{'s' if t.findings != 1 else ''}"
        cmds.append(f"ufw prepend reject out log to {t.ip} comment {shlex.quote(n)}")
    files = {"ufw-commands.sh": "\n".join(cmds) + "\n"}
    for name, ts, v6 in (("before.rules.snippet", p.v4, False), ("before6.rules.snippet", p.v6, True)):
        chain = "ufw6-before-output" if v6 else "ufw-before-output"
        target = name.removesuffix(".snippet")
        lines = [
            *_header(p, f"ufw /etc/ufw/{target}"),
            f"# Paste into /etc/ufw/{target}, inside *filter, after the line",
            f"#   -A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "# and before COMMIT (loopback and established traffic are accepted above it); then: ufw reload",
            *_owner_rules(p, chain, f"-m owner --uid-owner {p.user}", ts, v6),
        ]
        files[name] = "\n".join(lines) + "\n"
    return files


GENERATORS = {"ufw": ufw, "iptables": iptables, "nftables": nftables}


def rpz_zone(p: Plan) -> str:
    """An RPZ zone file sinkholing the DNS callbacks (include it as a response-policy zone)."""
    lines = [
        "; dropscan: DNS callbacks found in web requests. A response-policy zone (RPZ): each name and",
        '; every name under it answers NXDOMAIN. BIND: zone "rpz.dropscan" { type primary; file ...; };',
        '; response-policy { zone "rpz.dropscan"; };  Unbound: rpz: name: rpz.dropscan zonefile: ...',
        "; Review before loading: a name the application needs must not be listed.",
        "$TTL 300",
        "@ IN SOA localhost. root.localhost. 1 3600 600 86400 300",
        "@ IN NS localhost.",
        *sinkhole_lines(p.callback_names),
    ]
    return "\n".join(lines) + "\n"


def egress_rules(
    report: Report, firewall: str, user: str = "www-data", allow_dns: bool = False, include_unparsed: bool = False
) -> dict[str, str]:
    """File name -> content of the rules for ``firewall`` (ufw, iptables or nftables), plus
    `RPZ_FILE` when there are DNS callbacks (only the resolver can stop those)."""
    if firewall not in GENERATORS:
        raise UsageError(f"unknown firewall {firewall!r}: use one of {', '.join(FIREWALLS)}")
    p = plan(report, user, allow_dns, include_unparsed)
    files = GENERATORS[firewall](p)
    if p.callback_names:
        files[RPZ_FILE] = rpz_zone(p)
    return files


IPTABLES_FAMILY = {4: "rules.v4", 6: "rules.v6"}
