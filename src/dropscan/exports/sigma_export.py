"""The signature pack as Sigma rules for ``logsource: category: webserver``.

One rule per signature: its patterns as ``|re|i`` values (dropscan matches case-insensitively)
on the Sigma fields of the parts of the request it inspects (the target as ``cs-uri-query``,
which SigmaHQ's web rules treat as the whole path and query; ``cs-user-agent``;
``cs-referer``), ``condition: 1 of selection_*``, its references, ATT&CK (``attack.t1105``)
and CVE (``cve.2021-44228``) tags, and its severity as the level. The id is a UUIDv5 of the
signature id, so an export is stable across runs.

A Sigma rule matches the field as the SIEM stored it. dropscan matches the same patterns on
decoded views of it and then extracts destinations; every rule's description says what the
Sigma form loses, so a SIEM user knows which evasions it will miss. Only patterns that both
Python's `re` and RE2 compile go into a rule (pySigma 2 and RE2-based SIEMs refuse look-around
and back-references); a signature left with none matches its keywords with ``contains``.
"""

from __future__ import annotations

import os
import re
import uuid

import yaml

from ..detect.signatures import Signature, SignatureSet
from ..extras import require
from .attack import cves, techniques

NAMESPACE = uuid.UUID("3b0f5e8e-7c1d-5a2b-9e4f-6d8c0a1b2c3d")
SIGMA_FIELDS = {"target": "cs-uri-query", "user_agent": "cs-user-agent", "referer": "cs-referer"}
LOSES = (
    "What this Sigma form loses: dropscan runs these patterns on decoded views of each field "
    "(percent-decoding to a fixed point, %uXXXX, HTML entities, quotes and backslashes inside "
    "shell words, ${IFS}, brace lists, log4j lookups such as ${lower:j}, base64 blobs) and then "
    "extracts the destinations; this rule sees the field as stored, so encoded or obfuscated "
    "variants are missed and no destination is extracted."
)


def rule_id(sig: Signature) -> str:
    return str(uuid.uuid5(NAMESPACE, sig.id))


def _portable(pattern: str, re2) -> bool:
    """Whether the regex flavours Sigma tools check with compile it: Python's `re` (pySigma 1)
    and RE2 (pySigma 2, and the SIEMs built on RE2): no look-around, no back-references."""
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error:
        return False
    options = re2.Options()
    options.log_errors = False  # RE2 logs every refusal to stderr otherwise
    options.case_sensitive = False
    try:
        re2.compile(pattern, options=options)
    except re2.error:
        return False
    return True


def to_sigma(sig: Signature) -> dict:
    """The Sigma rule of one signature, as a mapping (``yaml.safe_dump`` writes it).

    A pattern that Python's `re` or RE2 refuses (look-around, back-references) is left out and
    the description says so; when none is left, the rule matches the signature's keywords
    with ``contains`` instead (broader, and said)."""
    re2 = require("re2", "sigma", "Sigma export")
    patterns = [p for p in sig.pattern_texts if _portable(p, re2)]
    dropped = len(sig.pattern_texts) - len(patterns)
    detection: dict = {}
    for kind in ("target", "user_agent", "referer"):
        if kind in sig.fields:
            if patterns:
                detection[f"selection_{kind}"] = {f"{SIGMA_FIELDS[kind]}|re|i": list(patterns)}
            else:
                detection[f"selection_{kind}"] = {f"{SIGMA_FIELDS[kind]}|contains": list(sig.keywords)}
    detection["condition"] = "1 of selection_*"
    tags = [f"attack.{t.lower()}" for t in techniques(sig.references)]
    tags += [f"cve.{c[4:].lower()}" for c in cves(sig.references)]
    not_here = sorted(set(sig.fields) - set(SIGMA_FIELDS))
    description = f"dropscan signature {sig.id} ({sig.category}, {sig.severity}). "
    if sig.description:
        description += sig.description.strip() + " "
    description += LOSES
    if not_here:
        description += f" dropscan also inspects {', '.join(not_here)}, which this rule does not."
    if dropped and patterns:
        description += (
            f" {dropped} of its patterns use look-around or back-references, which RE2-based tools refuse, "
            "and are left out: this rule finds less."
        )
    elif dropped:
        description += (
            " Its patterns use look-around or back-references, which RE2-based tools refuse: this rule "
            "matches its keywords instead, which is broader."
        )
    rule = {
        "title": sig.name,
        "id": rule_id(sig),
        "status": "experimental",
        "description": description,
        "references": list(dict.fromkeys(sig.references)),
        "author": "dropscan",
        "tags": tags,
        "logsource": {"category": "webserver"},
        "detection": detection,
        "falsepositives": ["Requests that quote attack text, e.g. security training or search pages"],
        "level": sig.severity,
    }
    if not tags:
        del rule["tags"]
    return rule


def export(sigs: SignatureSet, directory: str) -> list[str]:
    """Write ``dropscan_<signature id>.yml`` per signature that inspects a request field into
    ``directory``; returns the paths written."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for sig in sigs.signatures:
        if not set(sig.fields) & set(SIGMA_FIELDS):
            continue
        path = os.path.join(directory, f"dropscan_{sig.id.replace('.', '_').replace('-', '_')}.yml")
        with open(path, "w", encoding="utf-8") as fh:
            yaml.safe_dump(to_sigma(sig), fh, sort_keys=False, allow_unicode=False, width=1000)
        written.append(path)
    return written
