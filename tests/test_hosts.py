"""The receiving-host rule: vhost, else --host, else the log file's name."""

from __future__ import annotations

import pytest

from dropscan.findings import Finding
from dropscan.hosts import HostRule, host_from_path


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("/var/log/apache2/access.log", "localhost"),
        ("/var/log/apache2/access.log.2.gz", "localhost"),
        ("/var/log/apache2/other_vhosts_access.log", "localhost"),
        ("/var/log/httpd/access_log", "localhost"),
        ("/var/log/httpd/ssl_access_log-20261101", "localhost"),
        ("access.log", "localhost"),
        ("-", "localhost"),
        ("/var/log/apache2/shop.example.com-access.log", "shop.example.com"),
        ("/var/log/apache2/shop.example.com_access.log.1", "shop.example.com"),
        ("/var/log/apache2/Shop.Example.com.access.log.3.gz", "shop.example.com"),
        ("/var/log/apache2/www.example.org-ssl_access.log", "www.example.org"),
        ("/var/log/httpd/www.example.org-access_log.xz", "www.example.org"),
        ("/srv/logs/web1.log", "web1"),
        ("logs/web1/access.log", "web1"),
        ("logs/web1/access.log.3.gz", "web1"),
        ("backup/web2/var/log/apache2/access.log.1", "web2"),
        ("sample_logs/access.log", "localhost"),
    ],
)
def test_host_from_path(path, host):
    assert host_from_path(path) == host


def _finding(log_file: str, vhost: str | None) -> Finding:
    return Finding(
        log_file, 1, 0, None, vhost, None, None, None, None, None, None, None, "target", "", [], "rfi", "high"
    )


def test_precedence_vhost_then_option_then_path():
    by_path = HostRule()
    named = HostRule("  Web7 ")
    assert by_path(_finding("logs/web1/access.log", "Shop.Example.com")) == "shop.example.com"
    assert named(_finding("logs/web1/access.log", "shop.example.com")) == "shop.example.com"
    assert by_path(_finding("logs/web1/access.log", None)) == "web1"
    assert named(_finding("logs/web1/access.log", None)) == "web7"
    assert HostRule("")(_finding("-", None)) == "localhost"
