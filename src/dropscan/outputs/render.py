"""The egress report for people: terminal table, Markdown, and one self-contained HTML file.

JSON is ``Report.as_dict()`` and exact. The human formats share one rule: every string that came
from a log (host names, client addresses, URLs) passes `dropscan.outputs.safety.term` (control and bidi
characters escaped), then the format's own escaping (`html.escape` for HTML, backslash/entity
escaping for Markdown); ``defang`` makes destinations unclickable (``hxxp://203.0.113[.]9``).

The HTML file is meant to be mailed: inline CSS, a per-day chart of findings by category drawn
as inline SVG here, no JavaScript, no external resource, and a Content-Security-Policy that
forbids scripts anyway.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
from collections.abc import Callable
from datetime import datetime

from ..detect.signatures import CATEGORIES
from ..report.egress_report import MAX_DESTINATIONS, DestinationStats, HostStats, Report, sinkhole_lines
from ..report.rules import never_target, nftables, plan
from .safety import defang, defang_host, term
from .writers import covered_text, held_back_text

MAX_CLIENTS = 10
# One colour per category (colour-blind-safe Okabe-Ito order), fixed so charts compare.
COLORS = dict(
    zip(
        CATEGORIES,
        (
            "#d55e00",
            "#cc79a7",
            "#0072b2",
            "#e69f00",
            "#009e73",
            "#882255",
            "#56b4e9",
            "#f0e442",
            "#999999",
            "#000000",
            "#332288",
        ),
        strict=True,
    )
)


def _when(t: datetime | None) -> str:
    return t.isoformat(sep=" ", timespec="seconds") if t else "-"


def _window(r: Report) -> str:
    s = int(r.window.total_seconds())
    return f"{s // 60}m" if s % 60 == 0 else f"{s}s"


class _Text:
    """Log-derived text for one output: terminal-safe, optionally defanged."""

    def __init__(self, defanged: bool):
        self.defanged = defanged

    def dest(self, d: DestinationStats) -> str:
        host = defang_host(d.host) if self.defanged else d.host
        return term(f"[{host}]" if ":" in d.host else (f"*.{host}" if d.wildcard else host))

    def url(self, u: str | None) -> str:
        return term(defang(u) if self.defanged and u else (u or ""))


def _kind(d: DestinationStats) -> str:
    if d.via_resolver:
        return "via resolver"
    return "ip" if d.ip_literal else "name"


RESOLVER_NOTE = (
    "via resolver: a DNS callback is looked up by the local resolver (systemd-resolved, nscd, dnsmasq) "
    "as its own user, so no egress rule for the web server user stops it. Stop it at the resolver: "
    "allow only the names the application needs, or sinkhole these names (RPZ zone lines, also written "
    "by `dropscan rules`):"
)


def resolver_advice(x: HostStats) -> list[str]:
    """What stops this host's DNS callbacks (empty when it has none)."""
    cbs = x.resolver_callbacks
    if not cbs:
        return []
    return [RESOLVER_NOTE, *sinkhole_lines(d.host for d in cbs)]


def _clients(h: HostStats) -> str:
    ranked = h.ranked_clients()
    text = ", ".join(f"{term(ip)} ({n})" for ip, n in ranked[:MAX_CLIENTS])
    return text + (f", and {len(ranked) - MAX_CLIENTS} more" if len(ranked) > MAX_CLIENTS else "")


def _categories(h: HostStats) -> str:
    return ", ".join(f"{c} {n}" for c, n in sorted(h.categories.items(), key=lambda kv: (-kv[1], kv[0])))


def _firewall_line(r: Report) -> str | None:
    fw = r.firewall
    if fw is None:
        return None
    return (
        f"firewall logs: {len(fw.files)} file(s), {fw.lines:,} lines, {fw.events:,} LOG events "
        f"({fw.outbound:,} outbound), {fw.other:,} other lines, {fw.unparsed:,} unparsed; "
        f"window {_window(r)} after each request"
    )


def incomplete_line(r: Report) -> str | None:
    """``INCOMPLETE: …`` naming every input that failed, or ``None`` when nothing did."""
    if r.complete:
        return None
    return f"INCOMPLETE: {len(r.errors)} input(s) failed, this report covers only the rest: " + "; ".join(
        term(e) for e in r.errors
    )


def coverage_line(r: Report) -> str | None:
    """What was read: files by status, lines, records, rejects, time span, formats."""
    if r.scan is None:
        return None
    return f"covered: {covered_text(r.scan['totals'])}"


def file_lines(r: Report) -> list[str]:
    """One line per input file: its status (clean, findings, FAILED, skipped) and why."""
    out = []
    for f in (r.scan or {}).get("files", []):
        why = f["error"] or f["skipped"]
        out.append(
            f"{f['status'].upper() if f['status'] == 'failed' else f['status']}: {term(f['path'])} "
            f"({term(f['format'] or '-')}, {f['lines']:,} lines, {f['findings']:,} finding(s))"
            + (f": {term(why)}" if why else "")
        )
    return out


def head_lines(r: Report) -> list[str]:
    """What every human format opens with: INCOMPLETE (when anything failed), then coverage,
    then the clean hosts."""
    out = [x for x in (incomplete_line(r), coverage_line(r)) if x]
    if r.clean_hosts:
        out.append("clean hosts (logs read, no findings): " + ", ".join(term(x) for x in r.clean_hosts))
    return out


def _more(x: HostStats) -> str:
    if not x.more_destinations:
        return ""
    return (
        f"and up to {x.more_destinations:,} more destination(s) ({x.more_findings:,} finding(s)) not listed: "
        f"only the {MAX_DESTINATIONS:,} most frequent are kept per host"
    )


def summary_lines(r: Report, defanged: bool = False, top: int = 5) -> list[str]:
    """The short summary printed when the report itself goes to a file."""
    t = _Text(defanged)
    need = r.needing_block
    out = [
        *head_lines(r),
        f"dropscan: {len(r.hosts)} host(s) with findings, {r.findings:,} finding(s); "
        f"{len(need)} need egress blocking" + (": " + ", ".join(term(h.host) for h in need) if need else ""),
    ]
    held = held_back_text((r.scan or {}).get("filtered"))
    if held:
        out.append(held)
    dests = r.destinations()
    if dests and top:
        out.append("top destinations:")
        for d in dests[:top]:
            mark = "CONFIRMED " if d.confirmed else ""
            via = " via resolver" if d.via_resolver else ""
            out.append(f"  {mark}{d.scheme}://{t.dest(d)}:{d.port if d.port is not None else '-'} ({d.findings}){via}")
    fw = _firewall_line(r)
    if fw and top:  # the full formats print it at their end
        out.append(fw)
    return out


# --- table -------------------------------------------------------------------------------------
def _cells(widths: list[int], values: list[str]) -> str:
    return "  ".join(
        v if w == 0 else (v[: w - 1] + "…" if len(v) > w else v.ljust(w)) for w, v in zip(widths, values, strict=True)
    )


HOST_COLUMNS = (
    (28, "HOST"),
    (6, "BLOCK"),
    (8, "FINDINGS"),
    (7, "2XX/3XX"),
    (7, "4XX/5XX"),
    (25, "FIRST SEEN"),
    (25, "LAST SEEN"),
    (7, "CLIENTS"),
    (0, "DESTINATIONS"),
)
DEST_COLUMNS = (
    (19, "CONFIRMED"),
    (40, "DESTINATION"),
    (5, "PORT"),
    (6, "SCHEME"),
    (12, "KIND"),
    (8, "FINDINGS"),
    (0, "2XX/3XX"),
)


def table(r: Report, defanged: bool = False) -> str:
    t = _Text(defanged)
    w = [c[0] for c in HOST_COLUMNS]
    out = [*summary_lines(r, defanged, top=0), *("  " + x for x in file_lines(r)), ""]
    if not r.hosts:
        return "\n".join([*out, "no findings"]) + "\n"
    out.append(_cells(w, [c[1] for c in HOST_COLUMNS]).rstrip())
    for h in r.hosts:
        row = [
            term(h.host),
            "YES" if h.needs_egress_blocking else "no",
            str(h.findings),
            str(h.answered_2xx_3xx),
            str(h.answered_4xx_5xx),
            _when(h.first_seen),
            _when(h.last_seen),
            str(len(h.clients)),
            str(len(h.dests)),
        ]
        out.append(_cells(w, row).rstrip())
    dw = [c[0] for c in DEST_COLUMNS]
    for h in r.hosts:
        out += ["", f"{term(h.host)}: {'NEEDS EGRESS BLOCKING' if h.needs_egress_blocking else 'no destination named'}"]
        out.append(
            f"  {h.findings_with_destinations} of {h.findings} finding(s) name a destination; categories: "
            f"{_categories(h)}"
        )
        out.append(f"  clients: {_clients(h)}")
        if h.dests:
            out.append("  " + _cells(dw, [c[1] for c in DEST_COLUMNS]).rstrip())
            for d in h.destinations:
                row = [
                    _when(d.confirmed_at)[:19] if d.confirmed else "-",
                    t.dest(d),
                    str(d.port) if d.port is not None else "-",
                    d.scheme,
                    _kind(d),
                    str(d.findings),
                    str(d.answered_2xx_3xx),
                ]
                out.append("  " + _cells(dw, [term(x) for x in row]).rstrip())
            advice = resolver_advice(h)
            if advice:
                out.append("  " + advice[0])
                out += [f"    {term(line)}" for line in advice[1:]]
        if h.more_destinations:
            out.append(f"  {_more(h)}")
    fw = _firewall_line(r)
    if fw:
        out += ["", fw]
    return "\n".join(out) + "\n"


# --- markdown ----------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~&])")


def md(text: object) -> str:
    """A Markdown table cell or inline text that renders as the literal text."""
    return _MD_SPECIAL.sub(r"\\\1", term(text))


def markdown(r: Report, defanged: bool = False) -> str:
    t = _Text(defanged)
    out = ["# dropscan egress report", ""]
    inc = incomplete_line(r)
    if inc:
        out += [f"**{md(inc)}**", ""]
    out += [md(x) + "  " for x in summary_lines(r, defanged, top=0) if x != inc]
    out += ["", *(f"- {md(x)}" for x in file_lines(r)), ""]
    if r.hosts:
        out += [
            "| Host | Needs egress blocking | Findings | 2xx/3xx | 4xx/5xx | First seen | Last seen | Clients | "
            "Destinations | Confirmed |",
            "|---|---|--:|--:|--:|---|---|--:|--:|--:|",
        ]
        for h in r.hosts:
            out.append(
                f"| {md(h.host)} | {'**yes**' if h.needs_egress_blocking else 'no'} | {h.findings} | "
                f"{h.answered_2xx_3xx} | {h.answered_4xx_5xx} | {_when(h.first_seen)} | {_when(h.last_seen)} | "
                f"{len(h.clients)} | {len(h.dests)} | {h.confirmed} |"
            )
    for h in r.hosts:
        out += ["", f"## {md(h.host)}", ""]
        out.append(f"Categories: {md(_categories(h))}. Clients: {md(_clients(h))}.")
        if h.dests:
            out += [
                "",
                "| Confirmed | Destination | Port | Scheme | Kind | Findings | 2xx/3xx | Example URL |",
                "|---|---|--:|---|---|--:|--:|---|",
            ]
            for d in h.destinations:
                out.append(
                    f"| {'**' + _when(d.confirmed_at) + '**' if d.confirmed else '-'} | {md(t.dest(d))} | "
                    f"{d.port if d.port is not None else '-'} | {md(d.scheme)} | {_kind(d)} | "
                    f"{d.findings} | {d.answered_2xx_3xx} | {md(t.url(d.url)) if d.url else '-'} |"
                )
            advice = resolver_advice(h)
            if advice:
                out += ["", md(advice[0]), "", "```", *advice[1:], "```"]
        if h.more_destinations:
            out += ["", md(_more(h)) + "."]
    fw = _firewall_line(r)
    if fw:
        out += ["", md(fw)]
    return "\n".join(out) + "\n"


# --- html --------------------------------------------------------------------------------------
def h(text: object) -> str:
    """Log-derived text as HTML: terminal-safe first (no invisible bidi tricks), then escaped."""
    return html.escape(term(text), quote=True)


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;max-width:82em;
padding:0 1em;color:#1b1b1b;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
header{border-bottom:3px solid #333;padding-bottom:.6em}
.verdict{font-size:1.2em;font-weight:700;margin:.4em 0}.verdict.bad{color:#b00020}.verdict.ok{color:#2e7d32}
.incomplete{border:2px solid #b00020;background:#fff0f0;padding:.4em .8em;font-weight:700}
.facts{margin:.2em 0;color:#333}
table{border-collapse:collapse;margin:.6em 0;font-variant-numeric:tabular-nums;font-size:.92em}
th,td{border:1px solid #d0d0d0;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}
.yes{color:#b00020;font-weight:700}.no{color:#2e7d32}.confirmed{background:#ffe0e0;font-weight:700}
code,pre{font:13px/1.35 ui-monospace,Menlo,Consolas,monospace}td.url code{word-break:break-all}td.d{white-space:nowrap}
pre.rules{background:#f7f7f7;border:1px solid #ddd;padding:.6em;overflow-x:auto;max-height:40em}
.muted{color:#666}svg{max-width:100%;height:auto}svg text{font:13px system-ui,sans-serif;fill:#222}
h3{font-size:1.05em}
@media print{body{max-width:none;margin:0;font-size:10pt}pre.rules{max-height:none;
white-space:pre-wrap;overflow:visible}h2{break-after:avoid}tr,svg{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""


def verdict(r: Report) -> tuple[str, bool]:
    """One line a manager can act on, and whether it calls for action."""
    need = r.needing_block
    dests = r.destinations()
    if need:
        confirmed = sum(d.confirmed for d in dests)
        extra = f", {confirmed} confirmed by the firewall log" if confirmed else ""
        return (
            f"{len(need)} of {len(r.hosts)} host(s) need egress blocking: block {len(dests)} destination(s){extra}.",
            True,
        )
    if r.hosts:
        return f"No host needs egress blocking: {r.findings} finding(s), none naming a destination.", False
    return "No findings: no host needs egress blocking.", False


def period_line(r: Report) -> str:
    span = f"{_when(r.first)} to {_when(r.last)}" if r.first else "no timed findings"
    return f"Period of the findings: {span}" + (f"; {r.untimed} finding(s) without a timestamp" if r.untimed else "")


def day_chart(r: Report) -> str:
    """Findings per UTC day, stacked by category, as inline SVG (no script, no fonts to fetch)."""
    days = sorted(r.days)
    note = (
        f'<p class="muted">{r.untimed} finding(s) without a timestamp are not in this chart.</p>' if r.untimed else ""
    )
    if not days:
        return '<p class="muted">No timed findings to chart.</p>' + note
    cats = [c for c in COLORS if any(r.days[d].get(c) for d in days)]
    cats += sorted({c for d in days for c in r.days[d]} - set(cats))
    top = max(sum(r.days[d].values()) for d in days)
    left, plot_w, height, base = 56, 760, 260, 290
    step = plot_w / len(days)
    bar = max(4.0, min(48.0, step * 0.7))
    width = left + plot_w + 190
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{base + 90}" '
        f'viewBox="0 0 {width} {base + 90}" role="img" aria-label="Findings per day by category">',
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#888"/>',
        f'<line x1="{left}" y1="{base - height}" x2="{left}" y2="{base}" stroke="#888"/>',
    ]
    for frac in (0, 0.5, 1):
        y = base - height * frac
        out.append(f'<text x="{left - 8}" y="{y + 4:.0f}" text-anchor="end">{round(top * frac)}</text>')
    label_every = max(1, round(len(days) / 20))
    for i, d in enumerate(days):
        x = left + i * step + (step - bar) / 2
        y = float(base)
        for c in cats:
            n = r.days[d].get(c, 0)
            if not n:
                continue
            hgt = max(1.0, height * n / top)
            y -= hgt
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{hgt:.1f}" fill="{COLORS.get(c, "#777")}">'
                f"<title>{h(d.isoformat())} {h(c)}: {n}</title></rect>"
            )
        if i % label_every == 0:
            cx = x + bar / 2
            out.append(
                f'<text x="{cx:.1f}" y="{base + 16}" text-anchor="end" '
                f'transform="rotate(-45 {cx:.1f} {base + 16})">{h(d.isoformat())}</text>'
            )
    lx = left + plot_w + 24
    for j, c in enumerate(cats):
        out.append(f'<rect x="{lx}" y="{20 + j * 22}" width="14" height="14" fill="{COLORS.get(c, "#777")}"/>')
        total = sum(r.days[d].get(c, 0) for d in days)
        out.append(f'<text x="{lx + 20}" y="{32 + j * 22}">{h(c)} ({total})</text>')
    out.append("</svg>")
    return "\n".join(out) + note


def destination_chart(r: Report, defanged: bool, top: int = 10) -> str:
    """The destinations named most often (fleet-wide), as horizontal bars."""
    t = _Text(defanged)
    dests = r.destinations()[:top]
    if not dests:
        return '<p class="muted">No destination was named.</p>'
    most = max(d.findings for d in dests)
    label_w, plot_w, row = 330, 480, 26
    width, height = label_w + plot_w + 110, len(dests) * row + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="Top destinations">'
    ]
    for i, d in enumerate(dests):
        y = 4 + i * row
        w = max(2.0, plot_w * d.findings / most)
        name = f"{d.scheme}://{t.dest(d)}:{d.port if d.port is not None else '-'}"
        fill = "#b00020" if d.confirmed else "#0072b2"
        out += [
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{h(name[:48])}</text>',
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{fill}"/>',
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{d.findings}{" confirmed" if d.confirmed else ""}</text>',
        ]
    out.append("</svg>")
    return "\n".join(out)


def _td(v: object, cls: str | None = None) -> str:
    return f'<td class="{cls}">{h(v)}</td>' if cls else f"<td>{h(v)}</td>"


def _html_host_row(x: HostStats, anchor: str) -> str:
    return (
        f'<tr><td><a href="#{anchor}">{h(x.host)}</a></td>'
        + _td("yes" if x.needs_egress_blocking else "no", "yes" if x.needs_egress_blocking else "no")
        + "".join(_td(v, "n") for v in (x.findings, x.answered_2xx_3xx, x.answered_4xx_5xx))
        + _td(_when(x.first_seen))
        + _td(_when(x.last_seen))
        + "".join(_td(v, "n") for v in (len(x.clients), len(x.dests), x.confirmed))
        + "</tr>"
    )


def _rule_for(d: DestinationStats) -> str:
    """Which of the rules below the table stops this destination."""
    if d.via_resolver:
        return "resolver (RPZ)"
    if not d.ip_literal:
        return "default-deny"
    try:
        ip = ipaddress.ip_address(d.host)
    except ValueError:
        return "-"
    why = never_target(ip)
    if why:
        return f"none ({why})"
    return f"reject v{ip.version}"


def _block_section(r: Report, t: _Text) -> list[str]:
    """The fleet-wide table of destinations to block, with the nftables rules beside it."""
    dests = r.destinations()
    if not dests:
        return []
    rows = []
    for d in dests:
        cls = ' class="confirmed"' if d.confirmed else ""
        rows.append(
            f"<tr{cls}>"
            + f'<td class="d"><code>{h(t.dest(d))}</code></td>'
            + _td(d.port if d.port is not None else "-", "n")
            + _td(d.scheme)
            + _td(", ".join(d.hosts))
            + _td(d.findings, "n")
            + _td(_when(d.confirmed_at) if d.confirmed else "no", "yes" if d.confirmed else None)
            + _td(_when(d.first_seen))
            + _td(_when(d.last_seen))
            + _td(_rule_for(d))
            + "</tr>"
        )
    rules_text = nftables(plan(r))["dropscan-egress.nft"]
    return [
        "<h2>Block these destinations</h2>",
        '<table id="block"><thead><tr><th>Destination</th><th>Port</th><th>Scheme</th>'
        "<th>Hosts affected</th><th>Findings</th><th>Confirmed</th><th>First seen</th><th>Last seen</th>"
        "<th>Rule (below)</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
        "<h3>The rules to paste</h3>",
        '<p class="muted">nftables (<code>dropscan rules --firewall iptables|ufw</code> writes the others): '
        "default-deny outbound for the web user www-data, and rejects for every address above. The addresses "
        "are exact, not defanged: check with <code>nft -c -f</code>, then load with <code>nft -f</code>.</p>",
        '<pre class="rules">' + "\n".join(h(x) for x in rules_text.splitlines()) + "</pre>",
    ]


def html_report(r: Report, defanged: bool = False, title: str = "dropscan egress report") -> str:
    t = _Text(defanged)
    anchors = {x.host: f"host-{i}" for i, x in enumerate(r.hosts, 1)}  # host names are log text: not ids
    line, bad = verdict(r)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{h(title)}</title><style>{CSS}</style></head><body>",
        "<header>",
        f"<h1>{h(title)}</h1>",
        f'<p class="verdict {"bad" if bad else "ok"}">{h(line)}</p>',
    ]
    inc = incomplete_line(r)
    if inc:
        parts.append(f'<p class="incomplete" id="incomplete">{h(inc)}</p>')
    parts.append(f'<p class="facts">{h(period_line(r))}</p>')
    parts += [f'<p class="facts">{h(x)}</p>' for x in summary_lines(r, defanged, top=0) if x != inc]
    parts += ['<ul id="files">', *(f"<li>{h(x)}</li>" for x in file_lines(r)), "</ul>"]
    fw = _firewall_line(r)
    if fw:
        parts.append(f'<p class="facts">{h(fw)}</p>')
    parts.append("</header>")
    parts += _block_section(r, t)
    parts += [
        "<h2>Findings per day (UTC) by category</h2>",
        day_chart(r),
        "<h2>Top destinations</h2>",
        destination_chart(r, defanged),
    ]
    if r.hosts:
        parts += [
            "<h2>Hosts</h2>",
            '<table id="hosts"><thead><tr><th>Host</th><th>Needs egress blocking</th><th>Findings</th>'
            "<th>2xx/3xx</th><th>4xx/5xx</th><th>First seen</th><th>Last seen</th><th>Clients</th>"
            "<th>Destinations</th><th>Confirmed</th></tr></thead><tbody>",
        ]
        parts += [_html_host_row(x, anchors[x.host]) for x in r.hosts]
        parts.append("</tbody></table>")
    for x in r.hosts:
        parts.append(f'<h2 id="{anchors[x.host]}">{h(x.host)}</h2>')
        parts.append(
            f"<p>{x.findings_with_destinations} of {x.findings} finding(s) name a destination. "
            f"Categories: {h(_categories(x))}.<br>Clients: {h(_clients(x))}.</p>"
        )
        if not x.dests:
            continue
        parts.append(
            '<table class="destinations"><thead><tr><th>Confirmed</th><th>Destination</th><th>Port</th>'
            "<th>Scheme</th><th>Kind</th><th>Findings</th><th>2xx/3xx</th><th>First seen</th>"
            "<th>Example URL</th></tr></thead><tbody>"
        )
        for d in x.destinations:
            cls = ' class="confirmed"' if d.confirmed else ""
            parts.append(
                f"<tr{cls}>"
                + _td(_when(d.confirmed_at) if d.confirmed else "-")
                + f'<td class="d"><code>{h(t.dest(d))}</code></td>'
                + _td(d.port if d.port is not None else "-", "n")
                + _td(d.scheme)
                + _td(_kind(d))
                + _td(d.findings, "n")
                + _td(d.answered_2xx_3xx, "n")
                + _td(_when(d.first_seen))
                + (f'<td class="url"><code>{h(t.url(d.url))}</code></td>' if d.url else "<td>-</td>")
                + "</tr>"
            )
        parts.append("</tbody></table>")
        advice = resolver_advice(x)
        if advice:
            parts.append(f"<p>{h(advice[0])}</p><pre>" + "\n".join(h(x) for x in advice[1:]) + "</pre>")
        if x.more_destinations:
            parts.append(f"<p>{h(_more(x))}.</p>")
    parts.append(
        '<p class="muted">Generated by dropscan. Confirmed: an outbound packet to that address and port was '
        "logged by the firewall within the window after a request that carried it. Destinations are defanged "
        "(hxxp://, [.]) unless --no-defang; the rules are exact.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def json_report(r: Report, defanged: bool = False) -> str:
    """The exact JSON report (``defanged`` does not apply: machines want the real values)."""
    return json.dumps(r.as_dict(), indent=2) + "\n"


def jsonl_report(r: Report, defanged: bool = False) -> str:
    """The same exact JSON report on one line: a one-record JSON-lines stream."""
    return json.dumps(r.as_dict(), separators=(",", ":")) + "\n"


RENDERERS: dict[str, Callable[[Report, bool], str]] = {
    "table": table,
    "json": json_report,
    "jsonl": jsonl_report,
    "markdown": markdown,
    "html": html_report,
}


def render(r: Report, fmt: str, defanged: bool = False) -> str:
    return RENDERERS[fmt](r, defanged)
