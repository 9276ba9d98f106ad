"""Detection quality on the third-party corpus: per source, in-scope recall and benign flag rate.

    python benchmarks/corpus_eval.py [--corpus ../shared/corpus] [--json] [--misses]

Every case of every source in the corpus (``<source>/cases.jsonl``, see the corpus README) becomes
one access-log line, and the lines are scanned the way ``dropscan scan`` scans a file (chunks,
fast path). A case is:

* **in scope**: an attack that dropscan's job covers and that a combined-format access log can
  show (the rules are in `scope`, each exclusion with its reason; ``docs/detection.md`` lists
  them for readers). In-scope recall = in-scope cases with a finding / in-scope cases.
* **out of scope**: an attack of another class (SQLi, XSS, LFI, SSRF, scanners, DoS ...), a
  payload a combined log line cannot show, a fragment with no command in it, a CRS test above
  paranoia level 2, or a low-confidence attack label. Counted, never in the recall.
* **benign**: flagged share = benign cases with a finding / benign cases (the ``<= 0.1%``
  target). Low-confidence benign labels (unlabelled real traffic) are benign here too: a
  finding on them is listed so that a reader can judge it.

Where a case is only a payload, it is placed where its source says it was sent (CRS and
CrowdSec give a synthetic ``log_line``; GoTestWAF names placeholders; command-injection lists go
into a query parameter; Log4Shell strings into the User-Agent), percent-encoded the way a client
would send it.

Egress figures (`EgressFigures`, the second table), per source:

* **egress-class recall**: cases labelled with the destinations they make the server contact
  (``egress``, e.g. afrog-oob) that get a finding; **destinations exact**: those whose finding
  names exactly the labelled set (``host:port``; a ``(suffix)`` label is the wildcard
  ``*.host:port``);
* **DNS callbacks** (``dns-oob``) found, and of those labelled with a name, found with it (scheme
  dns); **SSRF** (``ssrf-oob``, ``ssrf``) found, and of those labelled, found with every
  labelled destination;
* **open redirects**: lines whose request target has a redirect parameter (``redirect``, ``next``,
  ``return``, ``returnTo``, ``came_from``, ``goto``, ``continue``, ``r`` ...) holding an absolute
  URL, or whose Referer has a URL-valued parameter (search-engine redirectors), and how many of
  them were given a destination (the target: none);
* **benign flagged**, as in the first table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dropscan.detect.decode import url_decode
from dropscan.detect.scanner import Scanner
from dropscan.detect.signatures import Example
from dropscan.engine import default_signatures
from dropscan.formats.logformat import detect_format
from dropscan.selftest import example_line

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
RECALL_TARGET = 0.95
BENIGN_TARGET = 0.001
CRS_MAX_PARANOIA = 2

# --- what dropscan is for --------------------------------------------------------------------
# Corpus categories (by source) whose attacks carry a command, code that runs one, a JNDI lookup,
# a Shellshock command, a remote include or an RCE probe. Everything else is another class.
IN_CATEGORIES = {
    "rce-unix",
    "rce-windows",
    "rce-os-command",
    "rce",
    "rce-asp",
    "rce-python",
    "rce-sqlite",
    "code-injection",
    "php-injection",
    "perl-injection",
    "ruby-injection",
    "nodejs-injection",
    "java-injection",
    "ognl-injection",
    "expression-injection",
    "ssti-rce",
    "log4shell",
    "shellshock",
    "rfi",
    "ssi",
    "path-traversal-rce",
    # afrog-oob: requests that make the server call out, labelled with where
    "dropper",
    "jndi",
    "dns-oob",
    "ssrf-oob",
}
OUT_CATEGORY_REASON = "attack class outside dropscan's job"

# CRS: the category comes from the tested rule, so scope is decided per rule. Rules of in-scope
# families whose tests carry no command or code are out, with the reason.
CRS_OUT_RULES = {
    931120: "URL-ending-in-'?' heuristic; 5 of 6 tests are a bare scheme (x=http?) with no host to include",
    931130: "any off-domain URL in any parameter: indistinguishable from redirect/next parameters, "
    "which must stay quiet",
    931131: "a URL in the path; same as 931130",
    932171: "Shellshock prefix '() {' without a command",
    932180: "upload file name",
    932270: "tilde-expansion fragment (~+, ~0), no command",
    932271: "tilde-expansion fragment (~+, ~0), no command",
    932300: "mail-protocol (SMTP) command, not an OS command",
    932301: "mail-protocol (SMTP) command, not an OS command",
    932310: "mail-protocol (IMAP) command, not an OS command",
    932311: "mail-protocol (IMAP) command, not an OS command",
    932320: "mail-protocol (POP3) command, not an OS command",
    932321: "mail-protocol (POP3) command, not an OS command",
    932330: "shell history-expansion fragment (!-1), no command",
    932331: "shell history-expansion fragment (!-1), no command",
    933110: "upload file name",
    933111: "upload file name",
    933120: "PHP ini directive name (precision=true), not code",
    933130: "PHP variable reference without a call",
    933131: "PHP variable reference without a call",
    933135: "PHP variable reference without a call",
    933140: "PHP I/O stream name (php://stdout), not code",
    933151: "harmless PHP function name (array_diff(, date_add())",
    933152: "harmless PHP function name (ldap_get_entries()",
    933153: "harmless PHP function name (sodium_*())",
    933170: "PHP serialized object: a deserialization gadget, no command or code in the text",
    933190: "PHP closing tag alone",
    933200: "PHP stream wrapper (phar://, zip://): a file-inclusion primitive",
    933220: "upload file name",
    934110: "SSRF",
    934120: "SSRF",
    934130: "prototype pollution",
    934160: "Node.js busy loop (DoS), no command",
    934170: "data: URI scheme",
    934180: "template-expression probe (SSTI) without a command",
    934190: "SSRF",
    934200: "template-expression probe (SSTI) without a command",
    934210: "ORM lookup injection",
    934220: "ORM lookup injection",
    944100: "bare Java class name (java.lang.Runtime=test), no invocation",
    944110: "bare Java class name (java.Runtime), no invocation",
    944120: "bare Java class-name keywords (ProcessBuilder.evil.clonetransformer), no invocation",
    944130: "bare Java class name (com.opensymphony.xwork2), no invocation",
    944140: "upload file name",
    944200: "Java serialization magic bytes, no command",
    944210: "base64 Java serialization magic (rO0ABQ), no command",
    944240: "bare Java class-name keywords (runtime.clonetransformer), no invocation",
    944250: "bare Java method keywords (java.evil.runtime), no invocation",
    944300: "base64 of a single keyword (cnVudGltZQ = 'runtime'), no command",
}

# CrowdSec AppSec (virtual-patching) requests are categorised by CWE, which says little about
# what the logged request carries, so each was read by hand. In scope: the logged line carries
# an OS command, code that runs one, a JNDI lookup, a remote include, or it is one of the listed
# RCE-probe families. Key: hub_test#request_index.
CROWDSEC_PAYLOAD_IN = {
    "CVE-2017-9841#1": "phpunit eval-stdin.php with PHP code",
    "CVE-2018-10562#1": "GPON diag_Form with `uname -a`",
    "CVE-2020-17496#1": "vBulletin widget PHP code shell_exec('cat ...')",
    "CVE-2021-22941#1": "Razor code calling Process.Start(cmd, arg)",
    "CVE-2022-22954#1": 'FreeMarker Execute("cat /etc/hosts")',
    "CVE-2022-22965#1": "Spring4Shell class-loader manipulation",
    "CVE-2022-22965#2": "Spring4Shell class-loader manipulation",
    "CVE-2022-44877#1": "$(ping${IFS}...`whoami`...)",
    "CVE-2022-46169#1": ";curl foobar.com",
    "CVE-2023-1389#1": "$(id>/tmp/out)",
    "CVE-2023-1389#2": "$(id>/tmp/out)",
    "CVE-2023-22527#1": 'OGNL + FreeMarker Execute exec({"whoami"})',
    "CVE-2023-33617#2": "boaform formPing ;cat /etc/passwd",
    "CVE-2023-3519#1": "shell commands (export PATH=...; exec python) in the overflow payload",
    "CVE-2023-4634#1": "remote file fetched by the server (mla_stream_file=ftp://...)",
    "generic-freemarker-ssti-args#1": 'FreeMarker Execute("cat /etc/hosts")',
    "generic-freemarker-ssti-body#1": 'OGNL + FreeMarker Execute exec({"whoami"})',
    **{f"generic-wordpress-uploads-php#{i}": "webshell in uploads called with exec=id" for i in range(1, 10)},
    "vpatch-CVE-2018-20062#1": "ThinkPHP invokefunction system(php -r ...)",
    "vpatch-CVE-2019-1003030#1": 'Groovy "ping -c 1 ...".execute()',
    "vpatch-CVE-2019-7276#1": "command=cat /etc/passwd",
    "vpatch-CVE-2020-10987#1": "`;wget http://foobar.com;`",
    "vpatch-CVE-2020-37123#1": ";echo test",
    "vpatch-CVE-2020-9054#1": "';cat /etc/passwd",
    "vpatch-CVE-2022-1388#1": "F5 iControl bash utilCmdArgs -c 'id'",
    "vpatch-CVE-2022-24086#1": "Magento template addAfterFilterCallback(system).filter(cat$IFS/etc/passwd)",
    "vpatch-CVE-2022-26134#1": 'OGNL Runtime.exec("whoami")',
    "vpatch-CVE-2022-31499#1": "`sleep 7`",
    "vpatch-CVE-2022-3236#1": ";`nc example.com 80`",
    "vpatch-CVE-2023-0297#1": 'pyimport os;os.system("id")',
    "vpatch-CVE-2024-27348#1": "Gremlin code building a ProcessBuilder (ping foobar.com)",
    "vpatch-CVE-2024-28255#1": "SpEL T(java.lang.Runtime).getRuntime().exec(...)",
    "vpatch-CVE-2024-29973#2": 'Python __import__("subprocess").check_output("id")',
    "vpatch-CVE-2024-32113#1": "Groovy 'id'.execute()",
    "vpatch-CVE-2024-32113#2": "Groovy 'id'.execute() as \\u escapes",
    "vpatch-CVE-2024-3272#1": "D-Link nas_sharing.cgi system=<base64 command>",
    "vpatch-CVE-2024-3272#2": "D-Link nas_sharing.cgi system=<base64 command>",
    "vpatch-CVE-2024-3408#1": "Python __import__('os').system('curl test')",
    **{f"vpatch-CVE-2024-38856#{i}": "Groovy 'id'.execute()" for i in range(1, 6)},
    **{f"vpatch-CVE-2024-4577#{i}": "PHP-CGI -d allow_url_include (listed RCE-probe family)" for i in range(1, 5)},
    "vpatch-CVE-2024-51378#1": "; id > /tmp/id",
    "vpatch-CVE-2024-51378#2": "; id > /tmp/id",
    "vpatch-CVE-2024-51567#1": "; whoami > /tmp/id",
    "vpatch-CVE-2024-8190#1": "; `ls -la` ;",
    "vpatch-CVE-2024-9474#1": "`echo $(uname -a) > ...`",
    "vpatch-CVE-2025-29306#1": '${@print_r(@system("id"))}',
    "vpatch-CVE-2025-3248#1": 'Python exec(__import__("subprocess").check_output(["cat", ...]))',
    "vpatch-CVE-2025-36604#1": "`curl${IFS}foobar.com`",
    "vpatch-CVE-2025-37164#1": '"cmd":"nc foobar.com"',
    "vpatch-CVE-2025-47812#1": 'Lua io.popen("echo ...")',
    "vpatch-CVE-2025-49113#1": "bash -c \"printf 'curl asd'>/tmp/p;bash /tmp/p\"",
    "vpatch-CVE-2025-59528#1": 'Node child_process.execSync("curl ...")',
    "vpatch-CVE-2026-1281#1": "`id > /tmp/poc`",
    "vpatch-CVE-2026-23744#1": 'JSON "command":"curl","args":["https://foobar.com"]',
}
# Requests of an in-scope category that were read and judged out, with the reason.
CROWDSEC_PAYLOAD_OUT = {
    "CVE-2023-33617#1": "default-credential login to a Boa router (the injection is the next request)",
}
CROWDSEC_PAYLOAD_OUT_REASON = (
    "no command or code in the logged request (payload in a Cookie, Authorization or custom header, "
    "a multipart body, an unresolved {{template}} variable, or an exploit step without one)"
)
# CrowdSec access-log lines: categories are scenario-derived; these in-scope-category lines carry
# no command (file read / listing through the same bug).
CROWDSEC_LINE_OUT = {
    "fileRead.jsp?fileName=": "F5 TMUI file read, no command",
    "directoryList.jsp?directoryPath=": "F5 TMUI directory listing, no command",
}

# Single-case exclusions in otherwise in-scope categories, by source and text prefix.
CASE_OUT = {
    "gotestwaf": {"AAAAAAAAAAAAAAAA": "8 KB filler of 'A' (a WAF size test), no command"},
    "log4shell-detector": {"http-nio-80-exec": "an application error log (JNDI lookup failure), not a request"},
}
# Single-case inclusions in out-of-scope categories: template injection carrying a command.
CASE_IN = {
    "gotestwaf": {'<#assign ex = "freemarker.template.utility.Execute"': 'FreeMarker Execute("id")'},
}
_ONLY_SEPARATORS = re.compile(r"(?:\\[nr]|%0[ad]|[\W\d_])*", re.IGNORECASE)


@dataclass(slots=True)
class Case:
    source: str
    index: int
    raw: dict
    line: bytes
    role: str  # in | out | benign
    reason: str = ""
    label_confidence: str = "high"
    finding: dict | None = None


def scope(source: str, c: dict) -> tuple[str, str]:
    """("in" | "out" | "benign", reason) for one corpus case."""
    if c["label"] != "attack":
        return "benign", ""
    if c.get("label_confidence") == "low":
        return "out", "low-confidence attack label"
    cat = c["category"]
    text = c["text"]
    for prefix, reason in CASE_OUT.get(source, {}).items():
        if text.startswith(prefix):
            return "out", reason
    for prefix, reason in CASE_IN.get(source, {}).items():
        if text.startswith(prefix):
            return "in", reason
    if source == "coreruleset":
        pl = c.get("crs_paranoia_level")
        if pl is None or pl > CRS_MAX_PARANOIA:
            return "out", f"CRS paranoia level {pl} > {CRS_MAX_PARANOIA}"
        if not c.get("in_log_line", True):
            return "out", "payload not visible in a combined log line (cookie/custom header/multipart)"
        rule = int(c["crs_rule_id"])
        if rule in CRS_OUT_RULES:
            return "out", f"CRS {rule}: {CRS_OUT_RULES[rule]}"
        return ("in", f"CRS {rule}") if cat in IN_CATEGORIES else ("out", f"{cat}: {OUT_CATEGORY_REASON}")
    if source == "crowdsec-hub" and c["kind"] == "payload":
        key = f"{c['hub_test']}#{c['request_index']}"
        if key in CROWDSEC_PAYLOAD_IN:
            return "in", CROWDSEC_PAYLOAD_IN[key]
        if key in CROWDSEC_PAYLOAD_OUT:
            return "out", CROWDSEC_PAYLOAD_OUT[key]
        if cat in IN_CATEGORIES:
            return "out", CROWDSEC_PAYLOAD_OUT_REASON
        return "out", f"{cat}: {OUT_CATEGORY_REASON}"
    if source == "crowdsec-hub":
        for marker, reason in CROWDSEC_LINE_OUT.items():
            if marker in text:
                return "out", reason
    if source == "gotestwaf" and not _gotestwaf_location(c)[0]:
        return "out", "delivered only where a combined log line cannot show it (" + ", ".join(
            c["gotestwaf_placeholders"]
        ) + ")"
    if cat not in IN_CATEGORIES:
        return "out", f"{cat}: {OUT_CATEGORY_REASON}"
    if _ONLY_SEPARATORS.fullmatch(text):
        return "out", "separators or line breaks only, no command"
    return "in", cat


# --- turning a case into a log line ---------------------------------------------------------
_ENCODE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^\x21-\x7e]|[&+#]")


def param_value(text: str) -> str:
    """Percent-encode a payload as a client puts it into one query-parameter value: spaces,
    control and non-ASCII bytes, and the characters that would end the value (``&``, ``#``,
    ``+``, a ``%`` that does not start an escape). Escapes already in the payload stay."""
    return _ENCODE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogateescape")), text)


_GOTESTWAF_VISIBLE = (
    "URLParam",
    "URLPath",
    "UserAgent",
    "HTMLForm",
    "JSONRequest",
    "SOAPBody",
    "XMLBody",
    "RawRequest",
)


def _gotestwaf_location(c: dict) -> tuple[str | None, str]:
    for p in _GOTESTWAF_VISIBLE:
        if p in c["gotestwaf_placeholders"]:
            return p, ""
    return None, ""


def synthetic_line(source: str, c: dict) -> bytes:
    """The combined-format line that carries a payload case where its source says it goes."""
    text = c["text"]
    if source == "gotestwaf":
        where, _ = _gotestwaf_location(c)
        if where == "URLPath":
            return example_line(Example("target", "/" + param_value(text)))
        if where == "UserAgent":
            return example_line(Example("user_agent", text))
        # URLParam, and bodies, which the corpus convention appends to the query string
        return example_line(Example("target", "/index.php?q=" + param_value(text)))
    if source == "log4shell-detector":
        return example_line(Example("user_agent", text))
    return example_line(Example("target", "/index.php?cmd=" + param_value(text)))


def case_line(source: str, c: dict) -> bytes:
    if c["kind"] == "access_log_line":
        return c["text"].encode("utf-8", "surrogateescape")
    if c.get("log_line"):
        return c["log_line"].encode("utf-8", "surrogateescape")
    return synthetic_line(source, c)


def load(corpus: Path) -> list[Case]:
    cases: list[Case] = []
    for d in sorted(p for p in corpus.iterdir() if (p / "cases.jsonl").is_file()):
        with open(d / "cases.jsonl", encoding="utf-8") as fh:
            for i, raw_line in enumerate(fh):
                if not raw_line.strip():
                    continue
                c = json.loads(raw_line)
                role, reason = scope(d.name, c)
                line = case_line(d.name, c).replace(b"\r", b" ").replace(b"\n", b" ")
                cases.append(Case(d.name, i, c, line, role, reason, c.get("label_confidence", "high")))
    return cases


# --- scanning --------------------------------------------------------------------------------
def scan(cases: list[Case], scanner: Scanner) -> None:
    """Scan every case's line as part of one chunk per (source, log format), like a file."""
    groups: dict[tuple[str, str | None], list[Case]] = defaultdict(list)
    formats = {}
    for c in cases:
        fmt = detect_format([c.line])
        name = fmt.format if fmt else None
        formats[name] = fmt
        groups[(c.source, name)].append(c)
    for (_src, name), group in groups.items():
        chunk = b"\n".join(c.line for c in group) + b"\n"
        res = scanner.scan_chunk(chunk, formats[name], log_file="corpus")
        for f in res.findings:
            group[f.line_no - 1].finding = f.to_record()


@dataclass(slots=True)
class SourceFigures:
    source: str
    cases: int = 0
    in_scope: int = 0
    detected: int = 0
    out_of_scope: int = 0
    out_detected: int = 0
    benign: int = 0
    benign_flagged: int = 0
    out_reasons: Counter = field(default_factory=Counter)
    by_class: dict[str, list[int]] = field(default_factory=dict)  # category -> [in scope, detected]
    misses: list[Case] = field(default_factory=list)
    flagged: list[Case] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.detected / self.in_scope if self.in_scope else None

    @property
    def flagged_share(self) -> float | None:
        return self.benign_flagged / self.benign if self.benign else None

    def meets_target(self) -> bool:
        ok_recall = self.recall is None or self.recall >= RECALL_TARGET
        ok_benign = self.flagged_share is None or self.flagged_share <= BENIGN_TARGET
        return ok_recall and ok_benign


def figures(cases: list[Case]) -> dict[str, SourceFigures]:
    out: dict[str, SourceFigures] = {}
    for c in cases:
        f = out.setdefault(c.source, SourceFigures(c.source))
        f.cases += 1
        hit = c.finding is not None
        if c.role == "in":
            f.in_scope += 1
            f.detected += hit
            counts = f.by_class.setdefault(c.raw["category"], [0, 0])
            counts[0] += 1
            counts[1] += hit
            if not hit:
                f.misses.append(c)
        elif c.role == "out":
            f.out_of_scope += 1
            f.out_detected += hit
            f.out_reasons[c.reason.split(":")[0] if c.reason.startswith("CRS") else c.reason] += 1
        else:
            f.benign += 1
            f.benign_flagged += hit
            if hit:
                f.flagged.append(c)
    return out


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def aligned(rows: list[tuple[str, ...]]) -> str:
    """Rows as columns: the first left-aligned, the others right-aligned, a rule under the head."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(figs: dict[str, SourceFigures]) -> str:
    head = ("source", "cases", "in scope", "detected", "recall", "out of scope", "benign", "flagged", "flagged %", "ok")
    rows = [head]
    for f in figs.values():
        rows.append(
            (
                f.source,
                str(f.cases),
                str(f.in_scope),
                str(f.detected),
                _pct(f.recall),
                str(f.out_of_scope),
                str(f.benign),
                str(f.benign_flagged),
                _pct(f.flagged_share, 2),
                "yes" if f.meets_target() else "NO",
            )
        )
    return aligned(rows)


def classes(figs: dict[str, SourceFigures]) -> str:
    """In-scope recall per attack class, for the sources that miss the recall target."""
    out = []
    for f in figs.values():
        if f.recall is None or f.recall >= RECALL_TARGET:
            continue
        out.append(f"{f.source}: in-scope recall by class")
        for cat, (n, hit) in sorted(f.by_class.items(), key=lambda kv: -kv[1][0]):
            out.append(f"  {cat:<20} {hit:>4}/{n:<4} {_pct(hit / n)}")
    return "\n".join(out)


def _short(text: str, n: int = 150) -> str:
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= n else text[: n - 3] + "..."


def details(figs: dict[str, SourceFigures]) -> str:
    out = []
    for f in figs.values():
        if f.misses:
            out.append(f"\n{f.source}: {len(f.misses)} in-scope misses")
            for c in f.misses:
                out.append(f"  miss [{c.reason}] {_short(c.raw['text'])}")
        if f.flagged:
            out.append(f"\n{f.source}: {len(f.flagged)} benign lines flagged")
            for c in f.flagged:
                conf = "" if c.label_confidence == "high" else f" ({c.label_confidence}-confidence benign label)"
                out.append(f"  flagged {c.finding['rule_ids']}{conf} {_short(c.line.decode('utf-8', 'replace'))}")
    return "\n".join(out)


def as_json(figs: dict[str, SourceFigures]) -> dict:
    return {
        f.source: {
            "cases": f.cases,
            "in_scope": f.in_scope,
            "detected": f.detected,
            "recall": f.recall,
            "out_of_scope": f.out_of_scope,
            "out_of_scope_detected": f.out_detected,
            "out_of_scope_reasons": dict(f.out_reasons.most_common()),
            "benign": f.benign,
            "benign_flagged": f.benign_flagged,
            "benign_flagged_share": f.flagged_share,
            "meets_target": f.meets_target(),
            "by_class": {cat: {"in_scope": n, "detected": hit} for cat, (n, hit) in f.by_class.items()},
            "misses": [{"reason": c.reason, "text": c.raw["text"]} for c in f.misses],
            "flagged": [
                {
                    "rules": c.finding["rule_ids"],
                    "label_confidence": c.label_confidence,
                    "line": c.line.decode("utf-8", "replace"),
                }
                for c in f.flagged
            ],
        }
        for f in figs.values()
    }


# --- egress figures --------------------------------------------------------------------------
_TARGET = re.compile(rb'"[A-Za-z]{3,10} (\S+)')
_REDIRECT = re.compile(
    r"(?:^|[?&;])(?:redirect(?:_?(?:url|uri|to))?|next|return(?:_?(?:url|to|path))?|returnto|came_from|goto|"
    r"continue|r|dest(?:ination)?|success_url|forward)=(?:https?:)?//",
    re.IGNORECASE,
)
DNS_CATEGORIES = {"dns-oob"}
SSRF_CATEGORIES = {"ssrf-oob", "ssrf"}


def label_destinations(labels: list[str]) -> set[str]:
    """A case's ``egress`` labels as destination strings: ``host:port``, ``*.host:port`` for a
    ``(suffix)`` label (a name built at run time)."""
    out = set()
    for lab in labels:
        text, _, note = lab.partition(" ")
        out.add(("*." + text) if "suffix" in note else text)
    return out


def found_destinations(finding: dict, scheme: str | None = None) -> set[str]:
    out = set()
    for d in finding["egress"]:
        if scheme is None or d["scheme"] == scheme:
            host = ("*." if d.get("wildcard") else "") + d["host"]
            out.add(host if d["port"] is None else f"{host}:{d['port']}")
    return out


_REFERER = re.compile(rb'" \d{3} \S+ "((?:[^"\\]|\\.)*)"')
_URL_PARAM = re.compile(r"[?&][\w.-]{1,40}=(?:https?:)?//", re.IGNORECASE)


def open_redirect(line: bytes) -> bool:
    """Whether the line carries an open redirect: an absolute URL in a redirect parameter of the
    request target, or in any parameter of the Referer (search-engine redirectors: Google's
    /url?url=, DuckDuckGo's uddg=): either way the browser went there, the server fetched nothing."""
    m = _TARGET.search(line)
    if m and _REDIRECT.search(url_decode(m.group(1).decode("utf-8", "replace"))):
        return True
    m = _REFERER.search(line)
    return bool(m) and bool(_URL_PARAM.search(url_decode(m.group(1).decode("utf-8", "replace"))))


@dataclass(slots=True)
class EgressFigures:
    source: str
    labelled: int = 0  # attack cases labelled with destinations
    found: int = 0
    exact: int = 0
    dns: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # cases, found, labelled, right name
    ssrf: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # cases, found, labelled, right destination
    redirects: int = 0
    redirects_with_destination: int = 0
    benign: int = 0
    benign_flagged: int = 0
    wrong: list[tuple[Case, set[str], set[str]]] = field(default_factory=list)  # (case, want, got)

    def as_dict(self) -> dict:
        return {
            "egress_labelled": self.labelled,
            "egress_found": self.found,
            "destinations_exact": self.exact,
            "dns_callbacks": dict(zip(("cases", "found", "labelled", "right_name"), self.dns, strict=True)),
            "ssrf": dict(zip(("cases", "found", "labelled", "right_destination"), self.ssrf, strict=True)),
            "open_redirects": self.redirects,
            "open_redirects_with_destination": self.redirects_with_destination,
            "benign": self.benign,
            "benign_flagged": self.benign_flagged,
            "wrong_destinations": [
                {"text": c.raw["text"], "want": sorted(w), "got": sorted(g)} for c, w, g in self.wrong
            ],
        }


def egress_figures(cases: list[Case]) -> dict[str, EgressFigures]:
    out: dict[str, EgressFigures] = {}
    for c in cases:
        f = out.setdefault(c.source, EgressFigures(c.source))
        hit = c.finding
        if open_redirect(c.line):
            f.redirects += 1
            f.redirects_with_destination += bool(hit and hit["egress"])
        if c.role == "benign":
            f.benign += 1
            f.benign_flagged += hit is not None
            continue
        if c.raw["label"] != "attack":
            continue
        want = label_destinations(c.raw.get("egress") or [])
        got = found_destinations(hit) if hit else set()
        if want:
            f.labelled += 1
            f.found += hit is not None
            f.exact += got == want
            if got != want:
                f.wrong.append((c, want, got))
        cat = c.raw["category"]
        for counts, cats, scheme in ((f.dns, DNS_CATEGORIES, "dns"), (f.ssrf, SSRF_CATEGORIES, None)):
            if cat in cats:
                counts[0] += 1
                counts[1] += hit is not None
                counts[2] += bool(want)
                counts[3] += bool(want) and want <= (found_destinations(hit, scheme) if hit else set())
    return out


def _ratio(hit: int, n: int, digits: int = 0) -> str:
    return "-" if not n else f"{hit}/{n} {_pct(hit / n, digits)}"


def egress_table(figs: dict[str, EgressFigures]) -> str:
    head = (
        "source",
        "egress found",
        "dest exact",
        "dns found",
        "dns name",
        "ssrf found",
        "ssrf dest",
        "redirects",
        "redir dest",
        "benign flagged",
    )
    rows = [head]
    for f in figs.values():
        rows.append(
            (
                f.source,
                _ratio(f.found, f.labelled),
                _ratio(f.exact, f.labelled),
                _ratio(f.dns[1], f.dns[0]),
                _ratio(f.dns[3], f.dns[2]),
                _ratio(f.ssrf[1], f.ssrf[0]),
                _ratio(f.ssrf[3], f.ssrf[2]),
                str(f.redirects),
                str(f.redirects_with_destination),
                _ratio(f.benign_flagged, f.benign, 2),
            )
        )
    return aligned(rows)


def evaluate_all(
    corpus: Path, scanner: Scanner | None = None
) -> tuple[dict[str, SourceFigures], dict[str, EgressFigures]]:
    cases = load(corpus)
    scan(cases, scanner or Scanner(default_signatures()))
    return figures(cases), egress_figures(cases)


def evaluate(corpus: Path, scanner: Scanner | None = None) -> dict[str, SourceFigures]:
    return evaluate_all(corpus, scanner)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="one JSON object with every figure, miss and flagged line")
    ap.add_argument("--misses", action="store_true", help="list in-scope misses and flagged benign lines")
    args = ap.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    figs, eg = evaluate_all(args.corpus)
    if args.json:
        out = as_json(figs)
        for name, e in eg.items():
            out[name]["egress"] = e.as_dict()
        print(json.dumps(out, indent=2))
    else:
        print(table(figs))
        if text := classes(figs):
            print("\n" + text)
        print("\negress figures\n" + egress_table(eg))
        print(
            f"\ntarget: in-scope recall >= {RECALL_TARGET:.0%}, benign flagged <= {BENIGN_TARGET:.1%} "
            f"({time.perf_counter() - t0:.1f} s)"
        )
        if args.misses:
            print(details(figs))
            for e in eg.values():
                for c, want, got in e.wrong:
                    print(
                        f"  {e.source}: destinations {sorted(got)} != labelled {sorted(want)}: {_short(c.raw['text'])}"
                    )
    return 0 if all(f.meets_target() for f in figs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
