"""Signature packs: YAML files of detection rules, validated, compiled and linted.

A signature is data (``signatures/*.yaml``), in the spirit of Sigma and the CRS: an id, a name,
a category and severity, whether it implies outbound traffic (``egress``), references (CVE,
ATT&CK, CRS rule ids), the fields it inspects, and

* ``keywords``: lower-case literals, at least one of which must occur in a normalised view
  before the patterns run (Snort's ``content`` before ``pcre``). They are the contract the fast
  prefilter is built from: a line can only produce a finding if a keyword can appear in one of
  its decoded views.
* ``patterns``: `regex`-module expressions, matched case-insensitively on each view, and
  linted for shapes whose matching time can blow up (see `lint_pattern`). A pattern is
  compiled the first time it is matched (`Signature.patterns`): `regex` parses in pure Python,
  and compiling all of the built-in pack cost about 90 ms of every run, most of them spent on
  patterns a run never needs. A pack the user names (``--signatures``) is compiled when it is
  loaded, so that a bad pattern is one clear error before any line is scanned; the built-in
  pack's patterns are compiled by the test suite (``tests/test_signatures.py``). Named groups
  ``url``, ``host``, ``port``, ``scheme``, ``tool``/``args`` say where the destination is (see
  `dropscan.detect.egress`).
* ``examples``: ``match`` and ``no_match`` cases the test suite and ``dropscan signatures test``
  run through the whole pipeline. No signature without examples (fail2ban's rule).

A pack may also hold ``define:`` mappings (in any of its files) of named regex fragments that
patterns use as ``{{NAME}}``, so the shell-context and URL grammar is written once.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError

# The categories a signature may have ("sigma": a finding only a Sigma rule, ``scan --sigma``,
# matched; no built-in signature has it); a finding may also be ``unscanned``: a line a
# deterministic bound stopped short (see `dropscan.match`), reported rather than passed silently.
SIGNATURE_CATEGORIES = (
    "dropper",
    "reverse-shell",
    "jndi",
    "shellshock",
    "rfi",
    "ssrf",
    "expression",
    "rce",
    "rce-probe",
    "sigma",
)
UNSCANNED = "unscanned"
CATEGORIES = (*SIGNATURE_CATEGORIES, UNSCANNED)
SEVERITIES = ("low", "medium", "high", "critical")
FIELD_KINDS = ("target", "user_agent", "referer", "header", "line")
EXTRACT_MODES = ("groups", "argv", "argv-list", "none")
EXAMPLE_KEYS = ("target", "user_agent", "referer", "line")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_REQUIRED = ("id", "name", "category", "severity", "egress", "keywords", "patterns", "references", "examples")
_OPTIONAL = ("description", "fields", "extract", "default_scheme", "tags")


@dataclass(frozen=True, slots=True)
class Example:
    field: str  # one of EXAMPLE_KEYS
    text: str
    egress: tuple[str, ...] | None = None  # expected "host:port" list, when given


@dataclass(slots=True)
class Signature:
    id: str
    name: str
    category: str
    severity: str
    egress: bool
    keywords: tuple[str, ...]
    references: tuple[str, ...]
    fields: frozenset[str]
    extract: str
    default_scheme: str | None
    description: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""
    matches: tuple[Example, ...] = ()
    no_matches: tuple[Example, ...] = ()
    pattern_texts: tuple[str, ...] = field(default=())
    _compiled: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self.severity)

    @property
    def patterns(self) -> tuple[Any, ...]:
        """The compiled patterns (regex.Pattern), compiled on first use. When that happens
        cannot change a result: no clock is read while a line is matched
        (`dropscan.detect.match`)."""
        if self._compiled is None:
            where = f"{self.source}: signature {self.id!r}"
            self._compiled = tuple(_compile_pattern(p, where) for p in self.pattern_texts)
        return self._compiled


def _compile_pattern(p: str, where: str):
    """A signature pattern as `regex` compiles it: case-insensitive, version 0 (imported here:
    a run whose lines never reach a pattern needs none of it)."""
    import regex

    try:
        return regex.compile(p, regex.IGNORECASE | regex.V0)
    except regex.error as e:
        raise _fail(where, f"pattern {_short(p)!r} does not compile: {e}") from None


def default_dir() -> Path:
    """The signature pack shipped with dropscan (inside the wheel, or the repo checkout)."""
    packaged = resources.files("dropscan") / "signatures"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "signatures"


def _fail(where: str, msg: str) -> UsageError:
    return UsageError(f"{where}: {msg}")


def _str_list(where: str, key: str, value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, f"{key!r} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise _fail(where, f"{key!r} must not be empty")
    return tuple(value)


def _examples(where: str, raw: Any) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    if not isinstance(raw, dict) or set(raw) - {"match", "no_match"}:
        raise _fail(where, "'examples' must be a mapping with 'match' and 'no_match' lists")
    out = []
    for key in ("match", "no_match"):
        items = raw.get(key)
        if not isinstance(items, list) or not items:
            raise _fail(where, f"examples.{key} must be a non-empty list (every signature needs both)")
        parsed = []
        for item in items:
            if isinstance(item, str):
                parsed.append(Example("target", item))
                continue
            if not isinstance(item, dict):
                raise _fail(where, f"examples.{key}: each example is a string or a mapping")
            keys = [k for k in item if k in EXAMPLE_KEYS]
            unknown = set(item) - set(EXAMPLE_KEYS) - {"egress"}
            if len(keys) != 1 or unknown or not isinstance(item[keys[0]], str):
                raise _fail(
                    where,
                    f"examples.{key}: a mapping needs exactly one of {', '.join(EXAMPLE_KEYS)}"
                    + (f" (unknown keys: {', '.join(sorted(unknown))})" if unknown else ""),
                )
            egress = item.get("egress")
            if egress is not None:
                egress = _str_list(where, "egress", egress, allow_empty=True)
            parsed.append(Example(keys[0], item[keys[0]], egress))
        out.append(tuple(parsed))
    return out[0], out[1]


_REF = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")


def expand(pattern: str, defines: dict[str, str], where: str) -> str:
    """Substitute ``{{NAME}}`` fragments (which may use other fragments)."""
    for _ in range(8):
        if "{{" not in pattern:
            return pattern
        missing = [n for n in _REF.findall(pattern) if n not in defines]
        if missing:
            raise _fail(where, f"pattern uses undefined fragment(s) {', '.join(sorted(set(missing)))}")
        pattern = _REF.sub(lambda m: defines[m.group(1)], pattern)
    raise _fail(where, "fragments nest too deeply")


def parse_signature(raw: Any, source: str, defines: dict[str, str] | None = None) -> Signature:
    """Validate one signature mapping; raise `UsageError` naming the file and the problem."""
    if not isinstance(raw, dict):
        raise _fail(source, "each signature must be a mapping")
    sid = raw.get("id")
    where = f"{source}: signature {sid!r}" if isinstance(sid, str) else source
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise _fail(where, f"missing {', '.join(missing)}")
    unknown = set(raw) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(sid, str) or not _ID.fullmatch(sid):
        raise _fail(where, "id must be 2-64 characters of a-z, 0-9, '.', '_' or '-'")
    if sid.split(".")[0] == UNSCANNED:
        raise _fail(where, f"ids starting {UNSCANNED!r} are dropscan's own (lines a bound stopped short)")
    if not isinstance(raw["name"], str) or not raw["name"].strip():
        raise _fail(where, "name must be a non-empty string")
    if raw["category"] not in SIGNATURE_CATEGORIES:
        raise _fail(where, f"category must be one of {', '.join(SIGNATURE_CATEGORIES)}")
    if raw["severity"] not in SEVERITIES:
        raise _fail(where, f"severity must be one of {', '.join(SEVERITIES)}")
    if not isinstance(raw["egress"], bool):
        raise _fail(where, "egress must be true or false")
    keywords = _str_list(where, "keywords", raw["keywords"])
    for kw in keywords:
        if kw != kw.lower() or len(kw) < 2 or not kw.isascii():
            raise _fail(where, f"keyword {kw!r} must be lower-case ASCII and at least 2 characters")
    pattern_texts = tuple(expand(p, defines or {}, where) for p in _str_list(where, "patterns", raw["patterns"]))
    for p in pattern_texts:
        problem = lint_pattern(p)
        if problem:
            raise _fail(where, f"pattern {_short(p)!r} refused: {problem}")
    references = _str_list(where, "references", raw["references"])
    fields = frozenset(_str_list(where, "fields", raw.get("fields", list(FIELD_KINDS))))
    if fields - set(FIELD_KINDS):
        raise _fail(where, f"fields must be among {', '.join(FIELD_KINDS)}")
    extract = raw.get("extract", "groups")
    if extract not in EXTRACT_MODES:
        raise _fail(where, f"extract must be one of {', '.join(EXTRACT_MODES)}")
    default_scheme = raw.get("default_scheme")
    if default_scheme is not None and not isinstance(default_scheme, str):
        raise _fail(where, "default_scheme must be a string")
    matches, no_matches = _examples(where, raw["examples"])
    return Signature(
        id=sid,
        name=raw["name"].strip(),
        category=raw["category"],
        severity=raw["severity"],
        egress=raw["egress"],
        keywords=keywords,
        references=references,
        fields=fields,
        extract=extract,
        default_scheme=default_scheme,
        description=str(raw.get("description", "")).strip(),
        tags=_str_list(where, "tags", raw.get("tags", []), allow_empty=True),
        source=source,
        matches=matches,
        no_matches=no_matches,
        pattern_texts=pattern_texts,
    )


def _short(p: str) -> str:
    return p if len(p) <= 120 else p[:117] + "..."


# --- lint: shapes whose matching time can blow up ------------------------------------------
def lint_pattern(pattern: str) -> str | None:
    """Refuse the shapes that make a backtracking matcher exponential: an unbounded quantifier
    applied to a group that can match the same text in more than one way, because it holds a
    repeat (``(a+)+``, ``(?:\\w*\\s)*``, ``(?:a?b)*``) or an alternation (``(a|aa)*``).
    Possessive quantifiers and atomic groups ``(?>...)`` are exempt. Scanning has no clock
    (a line's result depends on its bytes only), so this check, the caps on what a pattern sees
    (`dropscan.decode.MAX_FIELD`) and the per-line matching budget (`dropscan.match`) are what
    bound its cost. Returns the problem, or None."""
    contains = [False]  # per open group: does it hold a backtracking repeat?
    ambiguous = [False]  # per open group: a repeat or an alternation (more than one way to match)?
    atomic = [False]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        closed: tuple[bool, bool, bool] | None = None
        if c == "\\":
            i += 2
        elif c == "[":
            i = _skip_class(pattern, i)
        elif c == "(":
            contains.append(False)
            ambiguous.append(False)
            atomic.append(pattern.startswith("(?>", i))
            i += 1
            continue
        elif c == ")" and len(contains) > 1:
            closed = (contains.pop(), ambiguous.pop(), atomic.pop())
            if closed[0]:
                contains[-1] = True
            if closed[1] and not closed[2]:
                ambiguous[-1] = True
            i += 1
        else:
            if c == "|":
                ambiguous[-1] = True
            i += 1
        q = _quantifier(pattern, i) if i < n and pattern[i] in "*+?{" else None  # (most tokens have none)
        if q is None:
            continue
        unbounded, possessive, i = q
        if not possessive:
            ambiguous[-1] = True
        if unbounded and not possessive:
            if closed is not None and not closed[2]:
                if closed[0]:
                    return "nested unbounded quantifier (catastrophic backtracking); bound the inner or outer repeat"
                if closed[1]:
                    return (
                        "unbounded repeat of a group with an alternation or a repeat inside (catastrophic "
                        "backtracking); bound the repeat, or make the group atomic (?>...)"
                    )
            contains[-1] = True
    return None


def _skip_class(p: str, i: int) -> int:
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":
        j += 1
    while j < len(p) and p[j] != "]":
        j += 2 if p[j] == "\\" else 1
    return j + 1


_BRACE_Q = re.compile(r"\{([0-9]*)(,?)([0-9]*)\}")


def _quantifier(p: str, i: int) -> tuple[bool, bool, int] | None:
    """The quantifier starting at ``i``: (unbounded, possessive, index after it), or None."""
    if i >= len(p):
        return None
    if p[i] in "*+?":
        unbounded, end = p[i] != "?", i + 1
    elif p[i] == "{" and (m := _BRACE_Q.match(p, i)) and (m.group(1) or m.group(3)):
        unbounded, end = bool(m.group(2)) and not m.group(3), m.end()
    else:
        return None
    possessive = end < len(p) and p[end] == "+"
    if end < len(p) and p[end] in "+?":
        end += 1
    return unbounded, possessive, end


ADVERSARIAL_LENGTH = 50_000
ADVERSARIAL_KEYWORDS = 12  # a vocabulary of hundreds of keywords is sampled, evenly


def adversarial_inputs(sig: Signature) -> Iterable[str]:
    """Long inputs built to make a pattern backtrack: its keywords repeated, long runs of the
    characters patterns usually loop over, and keyword + long run + a character that fails."""
    kws = sig.keywords
    if len(kws) > ADVERSARIAL_KEYWORDS:
        kws = tuple(kws[i * len(kws) // ADVERSARIAL_KEYWORDS] for i in range(ADVERSARIAL_KEYWORDS))
    for kw in kws:
        yield (kw + " ") * (ADVERSARIAL_LENGTH // (len(kw) + 1))
        yield kw + " " + "a" * ADVERSARIAL_LENGTH + "\x00"
        yield kw + "a" * ADVERSARIAL_LENGTH + "\x00"  # the run glued to the keyword: ;foo(?:a|aa)*b
        yield kw + " " + ("-x " * (ADVERSARIAL_LENGTH // 3)) + ";"
        yield kw + " http://" + "a." * (ADVERSARIAL_LENGTH // 2)
    for ch in " a/%$-.0;{(:='\"\\":
        yield ch * ADVERSARIAL_LENGTH


def lint_runtime(sig: Signature, timeout: float = 1.0) -> list[str]:
    """Run every pattern against `adversarial_inputs` under ``timeout``; list the failures."""
    problems = []
    for text, pat in ((t, p) for t in adversarial_inputs(sig) for p in sig.patterns):
        try:
            for i, _ in enumerate(pat.finditer(text, timeout=timeout)):
                if i > 10_000:
                    break
        except TimeoutError:
            problems.append(
                f"{sig.id}: pattern {pat.pattern!r} exceeds {timeout}s on a "
                f"{len(text)}-character adversarial input starting {text[:20]!r}"
            )
    return problems


# --- packs -------------------------------------------------------------------------------
class SignatureSet:
    """The loaded signatures of one or more YAML files (picklable: workers rebuild them from
    the same YAML text)."""

    def __init__(self, documents: list[tuple[str, str]], known_good: int = 0):
        """``known_good``: how many leading documents are known to compile (the built-in pack,
        whose every pattern the test suite compiles, or documents a parent process loaded).
        The patterns of the other documents are compiled here, so a bad pattern in a user's
        pack is a clear error before any scan starts; the rest compile on first use."""
        self.documents = documents  # (source name, YAML text)
        sigs: list[Signature] = []
        seen: dict[str, str] = {}
        parsed = []
        defines: dict[str, str] = {}
        for source, text in documents:
            try:
                data = yaml.load(text, Loader=_Loader)  # noqa: S506 - safe loader subclass
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                at = f" line {mark.line + 1}" if mark else ""
                raise UsageError(f"{source}:{at} is not valid YAML: {getattr(e, 'problem', e)}") from None
            if isinstance(data, dict):
                unknown = set(data) - {"define", "signatures"}
                if unknown:
                    raise UsageError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}")
                for name, frag in (data.get("define") or {}).items():
                    if not isinstance(name, str) or not _REF.fullmatch("{{" + name + "}}") or not isinstance(frag, str):
                        raise UsageError(f"{source}: define {name!r}: names are UPPER_CASE, values strings")
                    if name in defines:
                        raise UsageError(f"{source}: define {name!r} is defined twice")
                    defines[name] = frag
                data = data.get("signatures", [])
            if not isinstance(data, list):
                raise UsageError(f"{source}: expected a list of signatures (or 'signatures:' and 'define:')")
            parsed.append((source, data))
        for doc, (source, data) in enumerate(parsed):
            for raw in data:
                sig = parse_signature(raw, source, defines)
                if doc >= known_good:
                    sig.patterns  # noqa: B018 - compiled now: a bad pattern fails the load
                if sig.id in seen:
                    raise UsageError(f"{source}: signature id {sig.id!r} already defined in {seen[sig.id]}")
                seen[sig.id] = source
                sigs.append(sig)
        if not sigs:
            raise UsageError("no signatures loaded" + (f" from {documents[0][0]}" if documents else ""))
        self.signatures = sigs
        self.by_id = {s.id: s for s in sigs}
        self.digest = hashlib.sha256("\x00".join(t for _, t in documents).encode()).hexdigest()[:16]
        kw: dict[str, list[int]] = {}
        for i, s in enumerate(sigs):
            for k in s.keywords:
                kw.setdefault(k, []).append(i)
        self.keyword_index = {k: tuple(v) for k, v in kw.items()}

    def __reduce__(self):
        return (SignatureSet, (self.documents, len(self.documents)))

    def __len__(self) -> int:
        return len(self.signatures)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.signatures]

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> SignatureSet:
        """Load every ``*.yaml``/``*.yml`` file of a directory (or one file); default: built-in pack."""
        docs = load_documents(path)
        return cls(docs, len(docs) if path is None else 0)


def load_documents(path: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """(source name, YAML text) of every ``*.yaml``/``*.yml`` file of a directory, or of one
    file; default: the built-in pack."""
    base = Path(path) if path is not None else default_dir()
    if base.is_dir():
        files = sorted(p for p in base.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise UsageError(f"{base}: no *.yaml signature files")
    elif base.is_file():
        files = [base]
    else:
        raise UsageError(f"{base}: no such signature file or directory")
    docs = []
    for f in files:
        try:
            docs.append((f.name if path is None else str(f), f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{f}: cannot read signature file: {e}") from None
    return docs


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader (C-accelerated when available)."""
