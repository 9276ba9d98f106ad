"""Normalised views of one attacker-controlled field.

Attackers hide commands behind layers of encoding; signatures are written against the text a
shell, PHP or log4j would finally see. Each view undoes one family of tricks, and they compose:

``url``   percent-decoding to a fixed point (``+``, ``%XX``, ``%uXXXX``, JSON ``\\uXXXX``,
          numeric and a few named HTML entities), NUL bytes removed. Also the readable form shown
          to analysts.
``cmd``   from ``url``: what a shell makes of it (CRS ``t:cmdLine`` and more): ``\\xhh``/octal/
          ``\\uXXXX`` escapes and line breaks (``\\n``) of ``$'...'``, ``printf`` and ``echo -e``
          decoded, ``${IFS}``/``$IFS$9``/``${IFS%??}`` to spaces, brace lists expanded with the
          word around them (``{wget,http://h/x}``, ``{l,-lh}s`` -> ``ls -lhs``), quotes,
          backslashes, carets and empty expansions (``$@``, ``$!``) removed from inside words,
          whitespace squeezed and dropped after a separator (``; id`` -> ``;id``), and
          ``$(printf '\\167...')`` / `` `echo x` `` replaced by the text they print.
``jndi``  from ``url``: log4j lookups resolved (``${lower:j}``, ``${::-n}``, ``${env:X:-d}``,
          ``${date:'j'}``, ``${base64:...}``), ``${jndi:...}`` itself kept.
``base64`` text decoded from base64 blobs, only where a decoder is named next to them
          (``base64 -d``, ``b64decode``, ``FromBase64String``, ``-enc``, JNDIExploit
          ``/Base64/``), and only when the result is printable; that text gets the views above
          again, to a bounded depth.

Matching is case-insensitive, so no view folds case (destinations keep their spelling).
Every step is bounded: fields are cut at `MAX_FIELD` characters before decoding, percent
decoding stops after `MAX_ROUNDS` rounds, lookups deeper than `MAX_LOOKUP_DEPTH` stay literal,
base64 is tried on `MAX_B64_BLOBS` blobs to `MAX_B64_DEPTH` levels, brace lists grow a field by
`MAX_FIELD` characters at most. A bound never passes silently: each function takes an optional
``note`` callback and calls it with `FIELD_CUT` or `DECODE_DEPTH` when text was left unread or
undecoded (the scanner reports such lines as ``unscanned``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import unquote

MAX_FIELD = 256 * 1024
MAX_ROUNDS = 8
MAX_LOOKUP_DEPTH = 64
MAX_B64_DEPTH = 2
MAX_B64_BLOBS = 8
FIELD_CUT = "field-cut"  # a field longer than MAX_FIELD: the rest is not decoded or matched
DECODE_DEPTH = "decode-depth"  # encoding layers, lookups, blobs or brace lists past their bound
Note = Callable[[str], None] | None

# Text that makes the base64 view look for blobs. The fast prefilter passes any line that
# contains one of these (possibly encoded), which keeps the prefilter sound.
B64_HINTS = ("base64", "b64decode", "b64_decode", "atob", "frombase64", "-enc", "-ec ", "-e ")


class View(NamedTuple):
    name: str
    text: str


# --- url ---------------------------------------------------------------------------------
_PCT_U = re.compile(r"%[uU]([0-9a-fA-F]{4})")
_JS_U = re.compile(r"\\[uU]([0-9a-fA-F]{4})")  # JSON/JavaScript string escapes
_ENTITY = re.compile(
    r"&#(?:[xX]0*([0-9a-fA-F]{1,6})|0*([0-9]{1,7}));|&(quot|amp|lt|gt|apos|sol|lpar|rpar|colon|semi|"
    r"period|dollar|lbrace|rbrace|lcub|rcub|lsqb|rsqb|vert|verbar|grave|bsol|excl|num|percnt|commat|equals|"
    r"plus|Tab|NewLine|lowbar|comma|quest|ast|hyphen|dash);",
    re.IGNORECASE,
)
_NAMED = {
    "quot": '"',
    "amp": "&",
    "lt": "<",
    "gt": ">",
    "apos": "'",
    "sol": "/",
    "lpar": "(",
    "rpar": ")",
    "colon": ":",
    "semi": ";",
    "period": ".",
    "dollar": "$",
    "lbrace": "{",
    "rbrace": "}",
    "lcub": "{",
    "rcub": "}",
    "lsqb": "[",
    "rsqb": "]",
    "vert": "|",
    "verbar": "|",
    "grave": "`",
    "bsol": "\\",
    "excl": "!",
    "num": "#",
    "percnt": "%",
    "commat": "@",
    "equals": "=",
    "plus": "+",
    "tab": "\t",
    "newline": "\n",
    "lowbar": "_",
    "comma": ",",
    "quest": "?",
    "ast": "*",
    "hyphen": "-",
    "dash": "-",
}


def _chr(code: int) -> str:
    return chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else ""


def _entity(m: re.Match[str]) -> str:
    if m.group(1):
        return _chr(int(m.group(1), 16))
    if m.group(2):
        return _chr(int(m.group(2)))
    return _NAMED[m.group(3).lower()]


def _url_round(s: str) -> str:
    if "%" in s:
        if "%u" in s or "%U" in s:
            s = _PCT_U.sub(lambda m: _chr(int(m.group(1), 16)), s)
        s = unquote(s, errors="backslashreplace")
    if "\\" in s:
        s = _JS_U.sub(lambda m: _chr(int(m.group(1), 16)), s)
    if "&" in s:
        s = _ENTITY.sub(_entity, s)
    return s


def url_decode(text: str, note: Note = None) -> str:
    """Percent-, ``%u``-, ``\\uXXXX``- and entity-decode to a fixed point (at most `MAX_ROUNDS`
    rounds): JSON bodies carry ``\\u0024{jndi:`` as often as URLs carry ``%24%7Bjndi:``."""
    s = text[:MAX_FIELD]
    if note is not None and len(text) > MAX_FIELD:
        note(FIELD_CUT)
    if "+" in s:
        s = s.replace("+", " ")  # form encoding: only the literal '+' of the first layer
    # NULs go in every round, not once at the end: deleting one can join an escape (\u222<NUL>2),
    # which the next round decodes; the result is then a fixed point of the whole function.
    s = _drop_nul(s)
    for _ in range(MAX_ROUNDS):
        before = s
        s = _drop_nul(_url_round(s))
        if s == before:
            break
    else:
        if note is not None and _drop_nul(_url_round(s)) != s:
            note(DECODE_DEPTH)
    return s


def _drop_nul(s: str) -> str:
    return s.replace("\x00", "") if "\x00" in s else s


# --- cmd ---------------------------------------------------------------------------------
_ANSI_ESC = re.compile(r"\\(?:[xX]([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})|([0-7]{1,3}))")
# \n and \r as line breaks, unless inside a word: there a backslash only quotes a letter (w\get).
_LINE_ESC = re.compile(r"(?<![A-Za-z0-9])\\([nr])|\\([nr])(?![A-Za-z0-9])")
_IFS = re.compile(r"\$\{IFS(?:[%#:/][^}]{0,16})?\}|\$IFS(?:\$[0-9@*]|\b)")
# A brace list with the word characters around it: bash distributes them, {l,-lh}s -> ls -lhs.
# The word is taken from where a word starts (the lookbehind): tried from every position of a
# long word, as the regex would without it, the search was quadratic (40k letters: 12 s).
_BRACES = re.compile(r"(?<![\w./-])([\w./-]*)\{([^{}\s,]*(?:,[^{}\s,]*)+)\}([\w./-]*)")
# Expansions that are empty (or that evasions treat as such): $@ $* $! ${} $() `` inside words.
# ($_ only before lower case: $_GET and the other PHP superglobals stay.)
_EMPTY_EXPANSION = re.compile(r"\$[@*]|\$[!?$-](?=\w)|\$_(?=[a-z])|\$\{\}|\$\(\)|``|\$(?=['\"])")  # $'..'/$".."
# A variable glued to a word is unset in an injected command (c$u'at', /et$_c): it expands to nothing.
_GLUED_VARIABLE = re.compile(r"(?<=[A-Za-z0-9])\$\{?[a-z_][a-z0-9_]{0,15}\}?(?![A-Za-z0-9_])")
# A one-letter bracket glob matches just that letter: pas[s]wd, /bi[n]/bash, [u]name.
# (Only in lower-case words and paths: $_GET[x] is PHP, not a glob.)
_ONE_LETTER_GLOB = re.compile(r"(?<=[a-z0-9/.])\[([a-z])\]|(?<![\w\]])\[([a-z])\](?=[a-z0-9/.])")
_WORD_CARET = re.compile(r"(?<=\w)\^(?=\w)")
_QUOTES = str.maketrans("", "", "\"'\\")
_HSPACE = re.compile(r"[ \t\v\f]{2,}|[\t\v\f]")
# $(printf '\167\147\145\164') and `echo wget` stand for their literal output.
_PRINTED = re.compile(
    r"\$\((?:printf|echo)(?: +-[ne]{1,3})* +([^()`;|&$\n]{1,200})\)"
    r"|`(?:printf|echo)(?: +-[ne]{1,3})* +([^`;|&$\n]{1,200})`"
)
# A space after a shell separator means nothing to the shell; dropping it lets one keyword
# (";id") stand for "; id" too. The prefilter lets these characters absorb raw whitespace.
SPACE_ABSORBING = ";|`"
_AFTER_SEP = re.compile(r"(?:(?<=[;|`\n])|(?<=&&)|(?<=\$\()) ")


def _ansi(m: re.Match[str]) -> str:
    if m.group(1):
        return _chr(int(m.group(1), 16))
    if m.group(2):
        return _chr(int(m.group(2), 16))
    return _chr(int(m.group(3), 8) & 0xFF)


def _expand_braces(s: str, note: Note = None) -> str:
    """Brace lists distributed over their word, adding at most `MAX_FIELD` characters in all:
    each item repeats the word around the list, so a long word and many items would grow
    quadratically (128 Ki letters and 64 Ki commas: 8 G characters). Lists past the room stay
    as written."""
    room = MAX_FIELD

    def words(m: re.Match[str]) -> str:
        nonlocal room
        pre, items, post = m.group(1), m.group(2).split(","), m.group(3)
        grows = len(items) * (len(pre) + len(post) + 1) + len(m.group(2)) - len(m.group())
        if grows > room:
            if note is not None:
                note(DECODE_DEPTH)
            return m.group()
        room -= max(grows, 0)
        return " ".join(w for w in (pre + item + post for item in items) if w)

    return _BRACES.sub(words, s)


def cmd_normalise(url_text: str, note: Note = None) -> str:
    """What a shell would run: escapes decoded, IFS and brace lists expanded, quotes removed,
    ``$(printf ...)`` replaced by what it prints."""
    s = url_text
    if "\\" in s:
        s = _ANSI_ESC.sub(_ansi, s)
        s = _LINE_ESC.sub(lambda m: "\n" if (m.group(1) or m.group(2)) == "n" else "\r", s)
    if "$" in s:
        s = _IFS.sub(" ", s)
        s = _EMPTY_EXPANSION.sub("", s)
        s = _GLUED_VARIABLE.sub("", s)
    elif "``" in s:
        s = _EMPTY_EXPANSION.sub("", s)
    if "{" in s and "," in s:
        s = _expand_braces(s, note)
    if "^" in s:
        s = _WORD_CARET.sub("", s)
    if "[" in s:
        s = _ONE_LETTER_GLOB.sub(lambda m: m.group(1) or m.group(2), s)
    s = _HSPACE.sub(" ", s.translate(_QUOTES))
    if "printf" in s or "echo" in s:
        s = _PRINTED.sub(lambda m: m.group(1) or m.group(2), s)
    return _AFTER_SEP.sub("", s)


# --- jndi --------------------------------------------------------------------------------
_LOOKUP_TOKEN = re.compile(r"\$\{|\}")
_EMPTY_LOOKUPS = frozenset(
    (
        "env",
        "sys",
        "java",
        "main",
        "ctx",
        "map",
        "sd",
        "k8s",
        "docker",
        "spring",
        "bundle",
        "log4j",
        "marker",
        "web",
        "jvmrunargs",
        "event",
        "hostname",
    )
)


def _evaluate(inner: str, depth: int) -> str:
    """The value log4j substitutes for ``${inner}`` (as far as it matters for detection)."""
    low = inner.lower()
    if low.startswith("jndi:"):
        return "${jndi:" + inner[5:] + "}"
    if low.startswith("${jndi:"):  # ${${base64:...}} whose value was itself a lookup
        return inner
    if ":-" in inner:
        return inner.split(":-", 1)[1]
    prefix, sep, rest = inner.partition(":")
    p = prefix.strip().lower()
    if not sep:
        return ""
    if p == "lower":
        return rest.lower()
    if p == "upper":
        return rest.upper()
    if p == "date":
        return rest.strip().strip("'")
    if p == "base64":  # log4j substitutes the decoded text again
        decoded = decode_b64(rest, min_len=1) or ""
        return resolve_lookups(decoded, depth + 1) if "${" in decoded and depth < MAX_B64_DEPTH else decoded
    return ""  # env:, sys:, unknown lookups: empty at the attacker's target too


def resolve_lookups(text: str, _depth: int = 0, note: Note = None) -> str:
    """Resolve nested log4j ``${...}`` lookups innermost first; ``${jndi:...}`` is kept."""
    if "${" not in text:
        return text
    stack: list[list[str]] = [[]]
    pos = 0
    for m in _LOOKUP_TOKEN.finditer(text):
        stack[-1].append(text[pos : m.start()])
        pos = m.end()
        if m.group() == "${":
            if len(stack) <= MAX_LOOKUP_DEPTH:
                stack.append([])
            else:
                if note is not None:
                    note(DECODE_DEPTH)
                stack[-1].append("${")
        elif len(stack) > 1:
            inner = "".join(stack.pop())
            stack[-1].append(_evaluate(inner, _depth))
        else:
            stack[-1].append("}")
    stack[-1].append(text[pos:])
    while len(stack) > 1:  # unclosed lookups stay literal
        inner = "".join(stack.pop())
        stack[-1].append("${" + inner)
    return "".join(stack[0])


# --- base64 ------------------------------------------------------------------------------
_B64_BLOB = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_DROP_LINE_SPACE = str.maketrans("", "", "\t\n\r")


def _printable(s: str, min_len: int) -> bool:
    """Printable text (tabs and line breaks allowed) of ``min_len`` characters with two letters
    (fewer when fewer are asked for); C-speed string methods, since decoded blobs are up to
    `MAX_FIELD` long."""
    if len(s) < min_len or not s.translate(_DROP_LINE_SPACE).isprintable():
        return False
    return sum(map(str.isalpha, s)) >= min(2, min_len)


def decode_b64(blob: str, min_len: int = 4) -> str | None:
    """Decode standard or URL-safe base64 to text (UTF-8, or UTF-16LE as PowerShell
    ``-enc`` uses); ``None`` unless the result is printable text of ``min_len`` characters
    (a log4j ``${base64:ZGk=}`` lookup may stand for two letters)."""
    blob = blob.strip().rstrip("=")
    if len(blob) < 2 or len(blob) % 4 == 1:
        return None
    try:
        raw = base64.b64decode(blob.replace("-", "+").replace("_", "/") + "=" * (-len(blob) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) >= 4 and raw[1::2].count(0) >= len(raw) // 2 - 1:
        text = raw.decode("utf-16-le", "replace")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return text if _printable(text, min_len) else None


def b64_texts(text: str, note: Note = None) -> list[str]:
    """Printable texts hidden in base64 blobs next to a named decoder."""
    low = text.lower()
    if not any(h in low for h in B64_HINTS):
        return []
    out: list[str] = []
    tried = 0
    for m in _B64_BLOB.finditer(text):
        blob = m.group()
        # '/' is a base64 digit but also a path separator (JNDIExploit .../Base64/<blob>):
        # try the whole run, then what follows each '/'.
        for candidate in [blob, *_after_last_slashes(blob, 4)]:
            if len(candidate) < 16:
                continue
            tried += 1
            if tried > MAX_B64_BLOBS:
                if note is not None:
                    note(DECODE_DEPTH)
                return out
            decoded = decode_b64(candidate)
            if decoded and decoded not in out:
                out.append(decoded)
                break
    return out


def _after_last_slashes(blob: str, n: int) -> list[str]:
    """What follows each of the last ``n`` slashes of ``blob``, leftmost first. Only those are
    cut: a copy after every slash is quadratic (a 256 KiB run of ``a/`` is 16 GB of copies)."""
    cuts: list[int] = []
    i = blob.rfind("/")
    while i >= 0 and len(cuts) < n:
        cuts.append(i)
        i = blob.rfind("/", 0, i)
    return [blob[i + 1 :] for i in reversed(cuts)]


# --- all views of a field ----------------------------------------------------------------
def views(text: str, note: Note = None, _depth: int = 0) -> list[View]:
    """Every normalised view of ``text``, most readable first, without duplicates; ``note`` is
    called with the name of each bound reached (`FIELD_CUT`, `DECODE_DEPTH`)."""
    url = url_decode(text, note)
    out = [View("url", url)]
    cmd = cmd_normalise(url, note)
    if cmd != url:
        out.append(View("cmd", cmd))
    if "${" in url:
        jndi = resolve_lookups(url, note=note)
        if jndi != url and jndi != cmd:
            out.append(View("jndi", jndi))
    if _depth < MAX_B64_DEPTH:
        seen = {v.text for v in out}
        for source in list(out):
            for decoded in b64_texts(source.text, note):
                if decoded in seen:
                    continue
                seen.add(decoded)
                for v in views(decoded, note, _depth + 1):
                    name = "base64" if v.name == "url" else f"base64+{v.name}"
                    out.append(View(name, v.text))
    elif note is not None and any(b64_texts(v.text) for v in out):
        note(DECODE_DEPTH)  # base64 inside base64 inside base64: not decoded further
    return out
