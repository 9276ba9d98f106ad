"""Kernel netfilter LOG lines: every header style, IPv4/IPv6, and correlation with requests."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropscan.report.fwlog import Clock, Correlator, FirewallStats, parse_line, parse_lines, read_events

# The body of a real LOG line (iptables --log-uid, ../shared/reference/ecosystem.md §7.4).
V4_BODY = (
    "IN= OUT=eth0 SRC=192.0.2.10 DST=203.0.113.91 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=29647 DF PROTO=TCP "
    "SPT=34800 DPT=80 WINDOW=64240 RES=0x00 SYN URGP=0 UID=33 GID=33 "
)
V6_BODY = (
    "IN= OUT=eth0 SRC=2001:0db8:0000:0000:0000:0000:0000:0010 DST=2001:0db8:0000:0000:0000:0000:0000:0066 "
    "LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=734912 PROTO=TCP SPT=50010 DPT=1389 WINDOW=64800 RES=0x00 SYN URGP=0 UID=33 GID=33"
)
UDP_BODY = "IN= OUT=eth0 SRC=192.0.2.10 DST=192.0.2.53 LEN=61 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=UDP SPT=41234 DPT=53 LEN=41 UID=33 GID=33"  # noqa: E501
INBOUND_BODY = (
    "IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.90 DST=192.0.2.10 LEN=44 TOS=0x00 "
    "PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=51234 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0 "
)
UTC_CLOCK = Clock(datetime(2026, 11, 27, 10, 0, tzinfo=UTC), None)


@pytest.mark.parametrize(
    ("line", "when", "prefix"),
    [
        # rsyslog traditional (syslog, kern.log, ufw.log) with the printk time
        (
            f"Nov 27 17:10:01 web1 kernel: [12345.678901] [UFW BLOCK] {V4_BODY}",
            "2026-11-27T17:10:01+00:00",
            "[UFW BLOCK]",
        ),
        # single-digit day, no printk time, no prefix (journalctl -k short)
        (f"Nov  7 17:10:01 web1 kernel: {V4_BODY}", "2026-11-07T17:10:01+00:00", ""),
        # rsyslog RFC 3339
        (
            f"2026-11-27T17:10:01.123456+01:00 web1 kernel: [DROPSCAN EGRESS] {V4_BODY}",
            "2026-11-27T17:10:01.123456+01:00",
            "[DROPSCAN EGRESS]",
        ),
        # journalctl -k -o short-iso
        (f"2026-11-27T17:10:01+0100 web1 kernel: [UFW BLOCK] {V4_BODY}", "2026-11-27T17:10:01+01:00", "[UFW BLOCK]"),
        # a prefix without a trailing space, printk time with padding
        (f"Nov 27 17:10:01 web1 kernel: [    5.000001] DROP:{V4_BODY}", "2026-11-27T17:10:01+00:00", "DROP:"),
    ],
)
def test_header_styles(line, when, prefix):
    ev = parse_line(line, UTC_CLOCK)
    assert ev.time.isoformat() == when
    assert ev.prefix == prefix
    assert (ev.hostname, ev.in_if, ev.out_if, ev.src, ev.dst) == ("web1", "", "eth0", "192.0.2.10", "203.0.113.91")
    assert (ev.proto, ev.spt, ev.dpt, ev.uid, ev.gid, ev.outbound) == ("TCP", 34800, 80, 33, 33, True)


def test_ipv6_udp_inbound_and_no_uid():
    v6 = parse_line(f"Nov 27 10:03:30 web1 kernel: {V6_BODY}", UTC_CLOCK)
    assert (v6.src, v6.dst, v6.dpt, v6.outbound) == ("2001:db8::10", "2001:db8::66", 1389, True)
    udp = parse_line(f"Nov 27 10:03:30 web1 kernel: {UDP_BODY}", UTC_CLOCK)
    assert (udp.proto, udp.dpt, udp.uid) == ("UDP", 53, 33)  # the UDP LEN= does not shadow anything
    inbound = parse_line(f"Nov 27 10:03:30 web1 kernel: [UFW BLOCK] {INBOUND_BODY}", UTC_CLOCK)
    assert (inbound.in_if, inbound.out_if, inbound.outbound, inbound.uid) == ("eth0", "", False, None)


def test_other_and_unparsed_lines_are_counted_not_fatal():
    lines = [
        "Nov 27 09:58:12 web1 kernel: [86012.113402] e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps",
        "-- Journal begins at Mon 2026-11-02 08:00:01 UTC, ends at Fri 2026-11-27 10:00:00 UTC. --",
        "",
        f"[12345.678] [UFW BLOCK] {V4_BODY}",  # dmesg: no wall-clock time
        f"Nov 27 10:00:00 web1 kernel: {V4_BODY.replace('DST=203.0.113.91', 'DST=999.1.1.1')}",
        f"Feb 30 10:00:00 web1 kernel: {V4_BODY}",  # no such day in any year
        f"Nov 27 10:00:00 web1 kernel: {V4_BODY}",
    ]
    stats = FirewallStats()
    events = list(parse_lines(lines, UTC_CLOCK, stats))
    assert [e.line_no for e in events] == [7]
    assert (stats.lines, stats.events, stats.outbound, stats.other, stats.unparsed) == (7, 1, 1, 3, 3)


def test_year_comes_from_the_access_log_across_new_year():
    dec31 = Clock(datetime(2026, 12, 30, 8, 0, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC))
    assert parse_line(f"Jan  1 00:00:10 web1 kernel: {V4_BODY}", dec31).time == datetime(
        2027, 1, 1, 0, 0, 10, tzinfo=UTC
    )
    assert parse_line(f"Dec 31 23:59:50 web1 kernel: {V4_BODY}", dec31).time.year == 2026
    jan1 = Clock(datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC), None)
    assert parse_line(f"Dec 31 23:59:59 web1 kernel: {V4_BODY}", jan1).time == datetime(
        2026, 12, 31, 23, 59, 59, tzinfo=UTC
    )
    leap = Clock(datetime(2028, 3, 1, tzinfo=UTC), None)
    assert parse_line(f"Feb 29 12:00:00 web1 kernel: {V4_BODY}", leap).time.year == 2028


def test_zone_of_naive_times():
    plus1 = timezone(timedelta(hours=1))
    access = Clock(datetime(2026, 11, 27, 10, 0, tzinfo=plus1), None)
    ev = parse_line(f"Nov 27 10:00:05 web1 kernel: {V4_BODY}", access)
    assert ev.zone_assumed and ev.time == datetime(2026, 11, 27, 10, 0, 5, tzinfo=plus1)
    explicit = Clock(datetime(2026, 11, 27, 10, 0, tzinfo=plus1), None, tz=UTC)
    ev = parse_line(f"Nov 27 10:00:05 web1 kernel: {V4_BODY}", explicit)
    assert not ev.zone_assumed and ev.time == datetime(2026, 11, 27, 10, 0, 5, tzinfo=UTC)
    ev = parse_line(f"2026-11-27T10:00:05 web1 kernel: {V4_BODY}", access)  # ISO without an offset
    assert ev.zone_assumed and ev.time.utcoffset() == timedelta(hours=1)
    ev = parse_line(f"2026-11-27T10:00:05Z web1 kernel: {V4_BODY}", access)
    assert not ev.zone_assumed and ev.time.utcoffset() == timedelta(0)


def test_read_events_from_gzip_and_missing_file(tmp_path):
    p = tmp_path / "kern.log.2.gz"
    p.write_bytes(gzip.compress(f"Nov 27 10:00:05 web1 kernel: {V4_BODY}\n".encode()))
    stats = FirewallStats()
    events = list(read_events([str(p), str(tmp_path / "nope.log")], UTC_CLOCK, stats))
    assert [e.dst for e in events] == ["203.0.113.91"]
    assert stats.files == [str(p), str(tmp_path / "nope.log")]
    assert len(stats.errors) == 1 and "nope.log: cannot open" in stats.errors[0]


# --- correlation -------------------------------------------------------------------------------
REQ = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def _ev(body: str, when: str, clock: Clock = UTC_CLOCK):
    return parse_line(f"{when} web1 kernel: [DROPSCAN EGRESS] {body}", clock)


def test_correlation_window_port_ip_direction():
    c = Correlator(timedelta(minutes=10))
    c.add("203.0.113.91", 80, REQ, "dropper")
    confirms = {
        "at the request second": _ev(V4_BODY, "Nov 27 10:00:00"),
        "window end": _ev(V4_BODY, "Nov 27 10:10:00"),
    }
    noise = {
        "before the request": _ev(V4_BODY, "Nov 27 09:59:59"),
        "after the window": _ev(V4_BODY, "Nov 27 10:10:01"),
        "wrong port": _ev(V4_BODY.replace("DPT=80 ", "DPT=8080 "), "Nov 27 10:00:05"),
        "wrong ip": _ev(V4_BODY.replace("DST=203.0.113.91", "DST=203.0.113.92"), "Nov 27 10:00:05"),
        "inbound from it": _ev(INBOUND_BODY.replace("SRC=203.0.113.90", "SRC=203.0.113.91"), "Nov 27 10:00:05"),
        "inbound to it": _ev(
            INBOUND_BODY.replace("DST=192.0.2.10", "DST=203.0.113.91").replace("DPT=23", "DPT=80"), "Nov 27 10:00:05"
        ),
    }
    for name, ev in confirms.items():
        assert c.match(ev) == [("dropper", ev.time)], name
    for name, ev in noise.items():
        assert c.match(ev) == [], name


def test_correlation_ipv6_portless_and_uid():
    c = Correlator(timedelta(minutes=10), uid=33)
    c.add("2001:db8::66", 1389, REQ, "jndi")
    c.add("203.0.113.91", None, REQ, "any-port")
    assert [k for k, _ in c.match(_ev(V6_BODY, "2026-11-27T10:00:02.5+00:00"))] == ["jndi"]
    assert [k for k, _ in c.match(_ev(V4_BODY.replace("DPT=80", "DPT=4444"), "Nov 27 10:00:02"))] == ["any-port"]
    assert c.match(_ev(V4_BODY.replace("UID=33", "UID=0"), "Nov 27 10:00:02")) == []
    assert c.match(_ev(V4_BODY.replace("UID=33 GID=33", ""), "Nov 27 10:00:02")) == []  # stock ufw: no UID


def test_naive_times_are_read_in_each_requests_offset():
    """A syslog time is the serving machine's wall clock: compared in the request's own offset."""
    plus2 = timezone(timedelta(hours=2))
    c = Correlator(timedelta(minutes=10))
    c.add("203.0.113.91", 80, datetime(2026, 7, 1, 10, 0, tzinfo=plus2), "summer")
    c.add("203.0.113.91", 80, datetime(2026, 7, 1, 10, 0, tzinfo=UTC), "utc-host")
    clock = Clock(datetime(2026, 7, 1, tzinfo=UTC), None)
    got = c.match(_ev(V4_BODY, "Jul  1 10:00:30", clock))
    assert sorted((k, t.isoformat()) for k, t in got) == [
        ("summer", "2026-07-01T10:00:30+02:00"),
        ("utc-host", "2026-07-01T10:00:30+00:00"),
    ]
    # with an explicit zone the wall time is fixed: 10:00:30Z is 12:00:30+02:00, outside the window
    fixed = Clock(datetime(2026, 7, 1, tzinfo=UTC), None, tz=UTC)
    assert [k for k, _ in c.match(_ev(V4_BODY, "Jul  1 10:00:30", fixed))] == ["utc-host"]


# --- property tests ----------------------------------------------------------------------------
_v4 = st.ip_addresses(v=4).map(str)
_v6 = st.ip_addresses(v=6).map(str)
_prefix = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20).filter(
    lambda s: "IN=" not in s and "OUT=" not in s and not re.match(r"\s*\[ *\d+\.\d+\]", s)  # not a printk time
)


@given(
    src=_v4 | _v6,
    dst=_v4 | _v6,
    prefix=_prefix,
    dpt=st.integers(0, 65535),
    uid=st.none() | st.integers(0, 2**31),
    iso=st.booleans(),
    when=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(lambda d: d.replace(microsecond=0)),
)
def test_generated_log_lines_round_trip(src, dst, prefix, dpt, uid, iso, when):
    head = when.strftime("%Y-%m-%dT%H:%M:%S+00:00") if iso else f"{when:%b} {when.day:2d} {when:%H:%M:%S}"
    tail = f" UID={uid} GID={uid}" if uid is not None else ""
    line = f"{head} host kernel: {prefix}IN= OUT=eth0 SRC={src} DST={dst} LEN=60 PROTO=TCP SPT=1 DPT={dpt}{tail}"
    clock = Clock(when.replace(tzinfo=UTC), None)
    ev = parse_line(line, clock)
    assert (ev.src, ev.dst, ev.dpt, ev.uid, ev.outbound) == (src, dst, dpt, uid, True)
    assert ev.prefix == prefix.strip()
    assert ev.time == when.replace(tzinfo=UTC)


@given(st.text(max_size=300))
def test_parser_never_raises(text):
    result = parse_line(text, UTC_CLOCK)
    assert result is None or result is False or result.dst
