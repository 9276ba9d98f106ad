"""Render one request into the access-log formats of other servers, the way each writes it.

Used by test_formats.py: the attacks of sample_logs/, rendered into every format, must give the
findings and destinations of the Apache original. Each writer follows its server's documented
escaping (nginx ``\\x22``, HAProxy ``#22``, IIS ``+`` for spaces, CloudFront percent-encoding).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from dropscan.formats.logformat import apache_escape


@dataclass
class Req:
    client: str
    time: datetime
    method: str | None
    target: str
    protocol: str | None
    status: int
    bytes: int
    referer: str | None
    user_agent: str | None

    @property
    def request(self) -> str:
        return " ".join(x for x in (self.method, self.target, self.protocol) if x)


def _clf(t: datetime) -> str:
    return t.strftime("%d/%b/%Y:%H:%M:%S %z")


def _nginx_escape(s: str) -> str:
    out = []
    for ch in s:
        b = ch.encode("utf-8", "surrogateescape")
        if ch in '"\\' or len(b) > 1 or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.extend(f"\\x{x:02X}" for x in b)
        else:
            out.append(ch)
    return "".join(out)


def _q(v: str | None, esc=apache_escape) -> str:
    return '"' + (esc(v) if v is not None else "-") + '"'


def combined(r: Req, esc=apache_escape) -> str:
    return (
        f"{r.client} - - [{_clf(r.time)}] {_q(r.request, esc)} {r.status} {r.bytes} "
        f"{_q(r.referer, esc)} {_q(r.user_agent, esc)}"
    )


def apache_extra(r: Req) -> str:  # combined %D "%{X-Forwarded-For}i"
    return combined(r) + f' 1234 "{r.client}, 10.0.0.7"'


def nginx_default(r: Req) -> str:
    return combined(r, _nginx_escape)


def nginx_timed(r: Req) -> str:  # ingress-nginx upstreaminfo
    return combined(r, _nginx_escape) + " 89 0.001 [default-web-8080] [] 10.0.0.5:8080 59 0.000 200 529a007902362a5f"


def nginx_json(r: Req) -> str:  # log_format escape=json: \uXXXX for controls, UTF-8 as it is
    return json.dumps(
        {
            "time_local": _clf(r.time),
            "remote_addr": r.client,
            "request": r.request,
            "status": r.status,
            "body_bytes_sent": r.bytes,
            "http_referer": r.referer or "",
            "http_user_agent": r.user_agent or "",
        },
        ensure_ascii=False,
    )


def caddy(r: Req) -> str:
    headers = {}
    if r.user_agent is not None:
        headers["User-Agent"] = [r.user_agent]
    if r.referer is not None:
        headers["Referer"] = [r.referer]
    return json.dumps(
        {
            "level": "info",
            "ts": r.time.timestamp(),
            "logger": "http.log.access",
            "msg": "handled request",
            "request": {
                "remote_ip": r.client,
                "remote_port": "41234",
                "client_ip": r.client,
                "proto": r.protocol or "",
                "method": r.method or "",
                "host": "example.com",
                "uri": r.target,
                "headers": headers,
            },
            "bytes_read": 0,
            "user_id": "",
            "duration": 0.001,
            "size": r.bytes,
            "status": r.status,
            "resp_headers": {"Server": ["Caddy"]},
        }
    )


def traefik(r: Req) -> str:
    doc = {
        "ClientAddr": f"{r.client}:41234",
        "ClientHost": r.client,
        "ClientPort": "41234",
        "DownstreamContentSize": r.bytes,
        "DownstreamStatus": r.status,
        "RequestHost": "example.com",
        "RequestMethod": r.method or "",
        "RequestPath": r.target,
        "RequestProtocol": r.protocol or "",
        "StartUTC": r.time.isoformat(),
        "level": "info",
        "msg": "",
        "time": r.time.isoformat(),
    }
    if r.user_agent is not None:
        doc["request_User-Agent"] = r.user_agent
    if r.referer is not None:
        doc["request_Referer"] = r.referer
    return json.dumps(doc)


IIS_HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2026-11-25 00:00:00\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
    "cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n"
)


def _iis_field(v: str | None) -> str:
    return "-" if not v else v.replace(" ", "+")


def iis(r: Req) -> str:
    stem, _, query = r.target.partition("?")
    t = r.time.utctimetuple()
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} 10.0.0.1 "
        f"{r.method or '-'} {_iis_field(stem)} {_iis_field(query)} 80 - {r.client} {_iis_field(r.user_agent)} "
        f"{_iis_field(r.referer)} {r.status} 0 0 15"
    )


def alb(r: Req) -> str:
    t = r.time.isoformat()
    return (
        f"http {t} app/my-alb/50dc6c495c0c9188 {r.client}:41234 10.0.0.1:80 0.000 0.001 0.000 {r.status} "
        f"{r.status} 34 {r.bytes} "
        f'"{r.method or "-"} http://www.example.com:80{apache_escape(r.target)} {r.protocol or "-"}" '
        f"{_q(r.user_agent)} - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/t/73e2d6bc24d8a067 "
        f'"Root=1-58337262-36d228ad5d99923122bbe354" "www.example.com" "-" 0 {t} "forward" "-" "-"'
    )


CLOUDFRONT_HEADER = (
    "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header "
    "cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type "
    "cs-protocol-version fle-status fle-encrypted-fields\n"
)


def _cf(v: str | None) -> str:
    return "-" if not v else quote(v, safe="/:;,()=&?+'@!*$~[]")


def cloudfront(r: Req) -> str:
    stem, _, query = r.target.partition("?")
    t = r.time.utctimetuple()
    fields = [
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}",
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}",
        "FRA2",
        str(r.bytes),
        r.client,
        r.method or "-",
        "d111111abcdef8.cloudfront.net",
        stem.replace(" ", "%20").replace("\t", "%09") or "/",
        str(r.status),
        _cf(r.referer),
        _cf(r.user_agent),
        query.replace(" ", "%20").replace("\t", "%09") or "-",
        "-",
        "Miss",
        "MRVMF7KydIvxMWfJIglgwHQwZsbG2IhRJ07sn9AkKUFSHS9EXAMPLE==",
        "www.example.com",
        "https",
        "217",
        "0.001",
        "-",
        "TLSv1.2",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "Miss",
        r.protocol or "-",
        "-",
        "-",
    ]
    return "\t".join(fields)


def _haproxy_escape(s: str, extra: str = "") -> str:
    out = []
    for ch in s:
        b = ch.encode("utf-8", "surrogateescape")
        if ch in '"#' + extra or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.extend(f"#{x:02X}" for x in b)
        else:
            out.append(ch)
    return "".join(out)


def haproxy(r: Req) -> str:
    captured = "|".join(_haproxy_escape(v or "", "{|}") for v in (r.user_agent, r.referer))
    return (
        f"Nov 25 11:11:11 lb1 haproxy[6801]: {r.client}:55008 [{r.time.strftime('%d/%b/%Y:%H:%M:%S')}.584] "
        f"ft_http~ bk_http/web1 0/0/0/72/72 {r.status} {r.bytes} - - ---- 5/4/0/1/0 0/0 {{{captured}}} "
        f'"{_haproxy_escape(r.request)}"'
    )


WRITERS = {
    "apache-extra": (apache_extra, ""),
    "nginx-default": (nginx_default, ""),
    "nginx-timed": (nginx_timed, ""),
    "nginx-json": (nginx_json, ""),
    "caddy": (caddy, ""),
    "traefik": (traefik, ""),
    "iis": (iis, IIS_HEADER),
    "alb": (alb, ""),
    "cloudfront": (cloudfront, CLOUDFRONT_HEADER),
    "haproxy": (haproxy, ""),
}


def render(reqs: list[Req], kind: str) -> bytes:
    write, header = WRITERS[kind]
    return (header + "".join(write(r) + "\n" for r in reqs)).encode("utf-8", "surrogateescape")
