"""Read Sigma rule files with pySigma and compile them into `dropscan.detect.sigma.tree` conditions.

pySigma does the Sigma part (YAML schema, modifiers such as ``contains``, ``all``,
``base64offset``, ``cased``, ``re``, wildcards and escapes, and the condition grammar with
``and/or/not``, ``1 of``, ``all of``); this module only turns its parsed condition into tests.

Field names are Sigma's web-server taxonomy, taken from the parsed record:

* ``cs-uri-query``: the whole request target (path and query), as SigmaHQ's web rules expect
  (they match paths such as ``/cgi-bin/`` in it); ``cs-uri-stem``: the path before ``?``;
* ``cs-method``, ``cs-user-agent``, ``cs-referer``, ``cs-version``, ``sc-status``,
  ``sc-bytes``, ``c-ip``, ``cs-host`` (the vhost, when ``%v`` is logged).

A rule reading any other field (``cs-username``, ``cs-cookie``, ``cs-content-type`` …), or
using a feature without a meaning here (field references, aggregations), is *not applicable*:
it is kept out, with the reason, in `SigmaPack.not_applicable`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import regex

from ...errors import UsageError
from ...extras import require
from ..signatures import lint_pattern
from . import tree as t
from .glob import ANY_ONE, Glob

FIELDS = (
    "cs-uri-query",
    "cs-uri-stem",
    "cs-method",
    "cs-user-agent",
    "cs-referer",
    "cs-version",
    "sc-status",
    "sc-bytes",
    "c-ip",
    "cs-host",
)
LOGSOURCE_SERVICES = ("apache", "nginx", "iis", "httpd")
LEVELS = {"informational": "low", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
_CMP = {"LT": "lt", "LTE": "lte", "GT": "gt", "GTE": "gte"}


class NotApplicable(Exception):
    """This rule cannot run on an access log (the message says why)."""


@dataclass(frozen=True, slots=True)
class SigmaRule:
    id: str
    title: str
    level: str  # Sigma's level as written
    severity: str  # dropscan's severity for it
    path: str
    condition: t.Node
    fields: frozenset[str]
    tags: tuple[str, ...] = ()
    # literals (ASCII case folded) of which every match holds one in some text of the event,
    # or None (`tree.required`): they feed the prefilter, and a record holding none skips the rule
    required: frozenset[str] | None = None

    @property
    def rule_id(self) -> str:
        """The id findings carry: ``sigma:<rule id>``."""
        return f"sigma:{self.id}"


@dataclass(frozen=True, slots=True)
class SigmaPack:
    rules: tuple[SigmaRule, ...]
    not_applicable: tuple[tuple[str, str, str], ...]  # (file, rule id or title, reason)
    digest: str
    files: int = 0
    # Literals that feed the prefilter: every match of every rule holds one (ASCII case
    # folded) in some text of the event. None when a rule has no such literal (a regex, a
    # status code alone, a `not`): then every record is parsed and runs every rule.
    keywords: frozenset[str] | None = None
    ungated: tuple[str, ...] = ()  # the rules without one

    def summary(self) -> dict:
        if self.keywords is not None:
            prefilter = f"on: {len(self.keywords)} literal(s) of the rules feed it"
        else:
            prefilter = (
                f"off: {len(self.ungated)} rule(s) have no literal every match must hold "
                f"({', '.join(self.ungated[:5])}{' ...' if len(self.ungated) > 5 else ''}); "
                "every record is parsed and runs every rule"
            )
        return {
            "files": self.files,
            "rules": len(self.rules),
            # what a finding's sigma:<id> stands for, with the rule's level
            "run": [{"id": r.rule_id, "title": r.title, "level": r.level, "file": r.path} for r in self.rules],
            "not_applicable": [{"file": f, "rule": r, "reason": why} for f, r, why in self.not_applicable],
            "prefilter": prefilter,
        }


def _string_test(value, sigma_types, keyword: bool) -> t.Literal | t.Wildcard:
    """A Sigma string (wildcards already placed by ``contains``/``startswith``/…) as a test.
    Sigma matches case-insensitively unless ``cased``; a keyword is found anywhere in the text.
    Without inner wildcards it is a plain string test, else a `Glob` (never a regex)."""
    cased = isinstance(value, sigma_types.SigmaCasedString)
    special = sigma_types.SpecialChars
    parts = list(value.s)
    lead = bool(parts) and parts[0] is special.WILDCARD_MULTI
    trail = len(parts) > int(lead) and parts[-1] is special.WILDCARD_MULTI
    inner = parts[int(lead) : len(parts) - int(trail)]
    if len(inner) == 1 and isinstance(inner[0], str):
        mode = (
            "contains" if keyword or (lead and trail) else "startswith" if trail else "endswith" if lead else "equals"
        )
        return t.Literal(mode, inner[0] if cased else inner[0].lower(), cased)
    # ASCII: case is folded for ASCII letters only, as the prefilter folds it
    pieces: list[list[str | None]] = [[]]
    for p in parts:
        if p is special.WILDCARD_MULTI:
            pieces.append([])
        elif p is special.WILDCARD_SINGLE:
            pieces[-1].append(ANY_ONE)
        elif isinstance(p, str):
            pieces[-1].extend(p if cased else t.fold(p))
        else:
            raise NotApplicable(f"special character {p!r} in a value is not supported")
    plain = max((p for p in parts if isinstance(p, str)), key=len, default="")
    return t.Wildcard(Glob.of(pieces, search=keyword), cased, plain or None)


def _test(value, st, keyword: bool) -> t.Test:
    if isinstance(value, st.SigmaString):
        return _string_test(value, st, keyword)
    if isinstance(value, st.SigmaRegularExpression):
        text = str(value.regexp)
        problem = lint_pattern(text)
        if problem:
            raise NotApplicable(f"regular expression {text[:80]!r} refused: {problem}")
        flags = regex.V0
        for f in value.flags:
            flags |= value.sigma_to_python_flags[f]
        try:
            return t.Regex(regex.compile(text, flags))
        except regex.error as e:
            raise NotApplicable(f"regular expression does not compile: {e}") from None
    if isinstance(value, st.SigmaNumber):
        if keyword:
            return t.Regex(regex.compile(regex.escape(str(value.number))))
        return t.Number(float(value.number))
    if isinstance(value, st.SigmaNull):
        return t.Null()
    if isinstance(value, st.SigmaCompareExpression):
        return t.Number(float(value.number.number), _CMP[value.op.name])
    if isinstance(value, st.SigmaCIDRExpression):
        return t.Cidr(ipaddress.ip_network(str(value.network), strict=False))
    if isinstance(value, st.SigmaExists):
        return t.Exists(bool(value.exists))
    raise NotApplicable(f"value type {type(value).__name__} is not supported")


def _leaf(value, st, name: str | None) -> t.Node:
    if isinstance(value, st.SigmaExpansion):  # base64offset, windash: any of the variants
        return t.AnyOf(t.merge_literals(tuple(_leaf(v, st, name) for v in value.values)))
    if name is None:
        return t.Keyword(_test(value, st, keyword=True))
    return t.Field(name, _test(value, st, keyword=False))


def _node(c, sc, st) -> t.Node:
    if isinstance(c, sc.ConditionAND):
        return t.AllOf(tuple(_node(a, sc, st) for a in c.args))
    if isinstance(c, sc.ConditionOR):
        return t.AnyOf(t.merge_literals(tuple(_node(a, sc, st) for a in c.args)))
    if isinstance(c, sc.ConditionNOT):
        return t.Not(_node(c.args[0], sc, st))
    if isinstance(c, sc.ConditionFieldEqualsValueExpression):
        return _leaf(c.value, st, c.field)
    if isinstance(c, sc.ConditionValueExpression):
        return _leaf(c.value, st, None)
    raise NotApplicable(f"condition element {type(c).__name__} is not supported")


def _logsource_ok(ls) -> bool:
    return ls.category == "webserver" or (ls.service or "").lower() in LOGSOURCE_SERVICES


def compile_rule(text: str, path: str) -> SigmaRule:
    """One rule file's text -> `SigmaRule`; `NotApplicable` when it cannot run on an access
    log; `UsageError` when it is not a valid Sigma rule."""
    require("sigma", "sigma", "Sigma rules")
    from sigma import conditions as sc
    from sigma import types as st
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule as PySigmaRule

    try:
        rule = PySigmaRule.from_yaml(text)
        if not _logsource_ok(rule.logsource):
            ls = rule.logsource
            raise NotApplicable(
                f"logsource (category {ls.category}, product {ls.product}, service {ls.service}) "
                "is not a web-server access log"
            )
        parsed = [c.parse() for c in rule.detection.parsed_condition]
    except SigmaError as e:
        raise UsageError(f"{path}: not a valid Sigma rule: {e}") from None
    except Exception as e:  # pySigma raises YAML and type errors as they come
        if isinstance(e, NotApplicable):
            raise
        raise UsageError(f"{path}: not a valid Sigma rule: {type(e).__name__}: {e}") from None
    node = _node(parsed[0], sc, st) if len(parsed) == 1 else t.AnyOf(tuple(_node(p, sc, st) for p in parsed))
    fields = t.fields_of(node)
    missing = sorted(fields - set(FIELDS))
    if missing:
        raise NotApplicable(f"uses field(s) an access log does not record: {', '.join(missing)}")
    level = rule.level.name.lower() if rule.level else "medium"
    return SigmaRule(
        id=str(rule.id) if rule.id else Path(path).stem,
        title=rule.title,
        level=level,
        severity=LEVELS.get(level, "medium"),
        path=path,
        condition=node,
        fields=frozenset(fields),
        tags=tuple(str(x) for x in rule.tags),
        required=t.required(node),
    )


def _rule_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise UsageError(f"--sigma {path}: no such file or directory")
    out = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        out.extend(os.path.join(root, f) for f in sorted(files) if f.endswith((".yml", ".yaml")))
    if not out:
        raise UsageError(f"--sigma {path}: no .yml/.yaml rule files in it")
    return out


def load_rules(path: str) -> SigmaPack:
    """Every rule file under ``path`` (a file or a directory, searched recursively)."""
    rules, skipped = [], []
    h = hashlib.sha256()
    files = _rule_files(path)
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{f}: cannot read Sigma rule: {e}") from None
        h.update(f.encode() + b"\0" + text.encode() + b"\0")
        try:
            rules.append(compile_rule(text, f))
        except NotApplicable as e:
            skipped.append((f, _title(text, f), str(e)))
    ungated = tuple(r.id for r in rules if r.required is None)
    keywords = None if ungated else frozenset().union(*(r.required for r in rules if r.required is not None))
    return SigmaPack(tuple(rules), tuple(skipped), h.hexdigest(), len(files), keywords, ungated)


def _title(text: str, path: str) -> str:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return Path(path).stem
    return str(doc.get("id") or doc.get("title") or Path(path).stem) if isinstance(doc, dict) else Path(path).stem
