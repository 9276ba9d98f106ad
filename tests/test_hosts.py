"""The receiving-host rule: vhost, else --host, else the log file's name."""

from __future__ import annotations

import pytest

from dropscan.detect.findings import Finding
from dropscan.report.hosts import HostRule, host_from_path


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
        # a file named by itself: only its name counts, never where the copy sits
        ("logs/web1/access.log", "localhost"),
        ("/tmp/x/sample_logs/access.log", "localhost"),
        ("sample_logs/access.log", "localhost"),
    ],
)
def test_host_from_path(path, host):
    assert host_from_path(path) == host


@pytest.mark.parametrize(
    ("path", "root", "host"),
    [
        ("logs/web1/access.log", "logs", "web1"),
        ("logs/web1/access.log.3.gz", "logs", "web1"),
        ("backup/web2/var/log/apache2/access.log.1", "backup", "web2"),
        ("/tmp/x/sample_logs/access.log", "/tmp/x/sample_logs", "localhost"),
        ("/tmp/x/sample_logs/access.log", "/tmp/x", "localhost"),  # sample_logs is generic
        ("logs.tgz!/web1/access.log", "logs.tgz", "web1"),
    ],
)
def test_host_from_path_reads_only_below_the_named_path(path, root, host):
    assert host_from_path(path, root) == host


def _finding(log_file: str, vhost: str | None) -> Finding:
    return Finding(
        log_file, 1, 0, None, vhost, None, None, None, None, None, None, None, "target", "", [], "rfi", "high"
    )


def test_precedence_vhost_then_option_then_path():
    by_path = HostRule(named=["logs"])
    named = HostRule("  Web7 ", named=["logs"])
    assert by_path(_finding("logs/web1/access.log", "Shop.Example.com")) == "shop.example.com"
    assert named(_finding("logs/web1/access.log", "shop.example.com")) == "shop.example.com"
    assert by_path(_finding("logs/web1/access.log", None)) == "web1"
    assert named(_finding("logs/web1/access.log", None)) == "web7"
    assert HostRule("")(_finding("-", None)) == "localhost"


def test_host_from_pattern_and_where_each_name_came_from():
    rule = HostRule(host_from="logs/{host}/*", named=["/mnt/copy/logs"])
    assert rule.source("/mnt/copy/logs/web3/access.log") == ("web3", "--host-from")
    # '*' is one path part: no match, so the path rule names it
    assert rule.source("/mnt/copy/logs/web3/sub/access.log") == ("sub", "directory")
    assert HostRule(host_from="backup/{host}/**").source("backup/web4/var/log/access.log") == ("web4", "--host-from")
    assert HostRule("web9", host_from="logs/{host}/*").source("logs/web3/access.log") == ("web9", "--host")
    assert HostRule(named=["logs"]).source("logs/shop.example.com-access.log") == ("shop.example.com", "file name")
    assert HostRule(named=["logs"]).source("logs/web1/access.log") == ("web1", "directory")


def test_host_from_pattern_without_host_is_a_usage_error():
    from dropscan.errors import UsageError

    with pytest.raises(UsageError, match=r"\{host\}"):
        HostRule(host_from="logs/*")


def test_the_same_logs_name_the_same_host_wherever_the_copy_sits(tmp_path):
    import shutil

    from conftest import SAMPLE_LOGS
    from dropscan.api import scan_frame

    a = tmp_path / "x" / "sample_logs"
    shutil.copytree(SAMPLE_LOGS, a)
    here = scan_frame(str(SAMPLE_LOGS))
    there = scan_frame(str(a))
    assert list(here["host"]) == list(there["host"]) and len(here)
    assert set(here["host"]) <= {"localhost"} | {v.lower() for v in here["vhost"].dropna()}
    files = {f["path"].rsplit("/", 1)[-1]: f["host"] for f in there.attrs["dropscan"]["files"]}
    assert all(h["source"] == "default" and h["name"] == "localhost" for h in files.values())
