"""What a signature's references say, in the shapes other formats want: ATT&CK technique ids
(``T1059.004`` from ``https://attack.mitre.org/techniques/T1059/004/``) and CVE ids."""

from __future__ import annotations

import re

_TECHNIQUE = re.compile(r"attack\.mitre\.org/techniques/(T\d{4})(?:/(\d{3}))?", re.IGNORECASE)
_CVE = re.compile(r"\bCVE-\d{4}-\d{4,}\b", re.IGNORECASE)


def techniques(references) -> list[str]:
    """ATT&CK technique ids in the references, in order, without duplicates."""
    out: list[str] = []
    for ref in references:
        m = _TECHNIQUE.search(ref)
        if m:
            tid = m.group(1).upper() + (f".{m.group(2)}" if m.group(2) else "")
            if tid not in out:
                out.append(tid)
    return out


def technique_url(tid: str) -> str:
    return "https://attack.mitre.org/techniques/" + tid.replace(".", "/") + "/"


def cves(references) -> list[str]:
    out: list[str] = []
    for ref in references:
        m = _CVE.search(ref)
        if m and m.group(0).upper() not in out:
            out.append(m.group(0).upper())
    return out
