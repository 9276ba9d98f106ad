"""The fast path: chunk-level checks that let benign lines cost almost nothing.

Two questions are answered for a whole chunk of lines at once, with hyperscan when installed:

1. **Which lines are not records?** `GrammarCheck` matches the format's chunk grammar
   ``(?:LINE\\r?\\n)*`` against the chunk; a chunk that matches has no rejected line. Otherwise
   the chunk is walked with the same grammar in `re`, one invalid line at a time.

2. **Which lines could produce a finding?** `Prefilter` finds lines whose decoded views could
   contain a signature keyword. It must only ever over-approximate. Two kinds of expressions,
   chosen so that hyperscan compiles them in milliseconds (near-literals, no per-character
   alternations except where benign URLs really do encode):

   * **keywords**, raw; a keyword character that benign URLs routinely percent-encode (space,
     ``/``, ``:``, ``&``, ``=``, ``;``, parentheses ...) may also be its ``%XX`` form, and a space
     may be ``+``, ``,`` (brace lists) or a tab;
   * **markers**, each of which passes a line on its own: every *other* percent-encoding of a
     character that occurs in a keyword (encoded letters, digits, ``%0a``, ``%24`` ...) and ``%00``
     (the url view deletes NULs, so ``wg%00et`` reads ``wget``), every
     second layer of encoding (``%25``, ``%%``, ``%7%37``, ``%uXXXX``, HTML entities, also behind
     an encoded ``&``), any backslash (Apache-escaped quotes/tabs/bytes, ``\\x``/octal/``\\u``
     escapes), a raw NUL, ``${`` (log4j lookups, ``${IFS}``), ``$(`` and any backtick (command
     substitution), a brace list ``{a,b}`` (expanded with the word around it), a one-letter
     bracket glob ``pas[s]wd`` (reduced to its letter), and any character
     the ``cmd`` view deletes from inside a word (a single quote, ``^``, a backtick, ``$``), a raw
     vertical tab or form feed (the ``cmd`` view makes them spaces); raw double quotes (one or a
     run of them) between non-spaces only for formats that inspect an unquoted field. A keyword
     that contains a line break, a backtick or ``$(`` gets no expression of its own: those
     markers already pass its lines;
   * every line of `LONG_RUN` (8191) bytes or more, and every field that long (a field may be
     cut at ``MAX_FIELD`` characters, which the scan reports as ``unscanned``: both paths must
     see it; a field is cut only if its text is longer than ``MAX_FIELD``, which takes more than
     ``MAX_FIELD / 4`` bytes as logged, since one byte reads as at most four characters,
     ``\\xhh``). Not a hyperscan expression (``^[^\\n]{8191}`` cost more than all the others
     together): `long_lines` finds them with one backward search per 8 KB;
   * and every line that is not a record (it is scanned whole, delimiters included).

   Why that is sound: a keyword can only appear in a view if each of its characters was in the
   raw line (raw or encoded) and nothing but deleted characters stood between them; the first
   is covered by the keyword's own alternatives or by the encoding markers, and the second,
   every way a view deletes or creates characters (NUL removal, entities, escapes, quote and
   expansion removal, brace lists, ``${IFS}``, lookups) is a marker, except the whitespace the ``cmd`` view
   drops after a separator (``; id`` -> ``;id``), which a keyword's ``;``, ``|`` or backtick
   absorbs (`dropscan.decode.SPACE_ABSORBING`). Base64 can hide anything, so the base64
   view only decodes next to a named decoder, and those names (`dropscan.decode.B64_HINTS`) are
   keywords here too. The keyword gate in `dropscan.match` folds ASCII case only, like
   hyperscan's caseless mode, so no Unicode case trick can make the full path see a keyword
   the prefilter missed. The test suite checks soundness by comparing the full and fast paths,
   finding for finding, on the corpus and on generated evasions.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from collections.abc import Iterable

from ..formats.logformat import Format
from .decode import B64_HINTS, MAX_FIELD, SPACE_ABSORBING
from .signatures import SignatureSet

try:  # hyperscan has wheels for x86_64/aarch64 Linux, macOS and Windows
    import hyperscan
except ImportError:  # pragma: no cover - exercised where hyperscan has no wheel
    hyperscan = None

HAVE_HYPERSCAN = hyperscan is not None


# Characters benign traffic often percent-encodes: in a keyword they may appear as %XX. The
# encoded form of any other keyword character is a marker instead (rare in benign traffic).
# ``%`` is one ("50%25 off"): the Windows keywords (``%comspec%``) made ``%25`` a marker, which
# put every such benign line on the slow path; a second layer (``%25XX``) stays a marker.
COMMON_ENCODED = " /:&=,?@+#;()<>[]{}|!%"
_SPACE = rb"(?:[ \t+,]|%20|%2c)+"


def _hex(c: str) -> set[bytes]:
    return {b"%02x" % ord(v) for v in {c.lower(), c.upper()}}


def _char(c: str, last: bool = True, query_sep: bool = False) -> bytes:
    if c == " ":
        return _SPACE
    raw = re.escape(c).encode()
    if c in COMMON_ENCODED:
        raw = b"(?:" + raw + b"|%" + b"|%".join(sorted(_hex(c))) + (b"|[ \t]" if c == "?" and query_sep else b"") + b")"
    if c in SPACE_ABSORBING and not last:  # the cmd view drops whitespace after a separator
        raw += b"(?:" + _SPACE + b")?"
    return raw


STATIC_MARKERS: tuple[bytes, ...] = (
    rb"%25(?:[0-9a-f]{2}|u|%)",  # a second percent-encoding layer
    rb"%%",
    rb"%[0-9a-f]%",
    rb"%u[0-9a-f]{4}",
    rb"(?:&|%26)(?:#|%23)",  # numeric HTML entity, also under percent-encoding
    rb"(?:&|%26)[a-z]{2,8}(?:;|%3b)",  # named HTML entity
    rb"\\",  # any backslash: Apache escapes (\" \xhh \t), shell escapes, printf
    rb"\x00",  # a raw NUL (url view removes NULs)
    rb"(?:\$|%24)(?:\{|%7b)",  # ${: log4j lookups, ${IFS}
    rb"(?:\$|%24)(?:\(|%28)",  # $(: command substitution
    rb"(?:\{|%7b)[^}\s]*(?:,|%2c)",  # a brace list: the cmd view distributes {l,-lh}s
    rb"(?:\[|%5b)[a-z](?:\]|%5d)",  # a one-letter bracket glob: the cmd view keeps only the letter
    rb"['^`$]|%27|%22",  # a character the cmd view deletes from inside a word (and any backtick)
    rb"[\x0b\x0c]",  # a raw vertical tab or form feed (the cmd view makes them spaces)
)
# A line or field this long passes: a field may be cut at MAX_FIELD characters, which both paths
# must report alike, and MAX_FIELD characters take at least MAX_FIELD / 4 bytes (an undecodable
# byte reads as four: \xhh). Any bound up to that is sound; lines this long are rare (Apache's
# LimitRequestLine is 8190), so each one costs a candidate, never the benign lines.
LONG_RUN = min(MAX_FIELD // 4, 8191)
# A raw double quote can only sit inside an inspected field when the format has an unquoted one
# (quoted fields escape it as \", a backslash marker). Rejected lines, scanned whole, are always
# candidates, so only such formats need this (costly: quotes are everywhere in a log line).
RAW_QUOTE_MARKER = rb'[^\s"]"+[^\s"]'  # also a run: w""get


def _encoded_markers(chars: set[str]) -> bytes:
    """``%XX`` of every keyword character whose encoding is not a keyword alternative."""
    codes = set()
    for c in chars | set("\t\n\r\v\f'\"\\^`$\x00"):  # NUL: the url view deletes it
        if c not in COMMON_ENCODED:
            codes |= _hex(c)
    return b"%(?:" + b"|".join(sorted(codes)) + b")"


# A keyword ending in a space ("wget ") only leads to a finding when an argument follows. In the
# raw line, spaces followed by "HTTP/1.1" and the closing quote are the request line's protocol
# separator, not part of the target: those are the one continuation this excludes.
_TRAILING_SPACE = (
    rb"(?:(?:[\t+,]|%20|%2c)"
    rb"| +(?:[^H \"\n]|H(?:[^T\n]|T(?:[^T\n]|T(?:[^P\n]|P(?:[^/\n]|/[0-9.]*[^0-9.\"\n]))))))"
)


# Keyword text that a marker passes on its own: such keywords need no expression of their own.
_IMPLIED = ("\n", "\r", "\v", "\f", "`", "$(")


def _pieces(keyword: str, query_sep: bool = False) -> list[bytes] | None:
    """The raw-line regex of a keyword, one piece per character (the last piece of a keyword
    ending in spaces is `_TRAILING_SPACE`), or None when markers alone pass every line that can
    produce it (a line break inside a log line only exists escaped or encoded; a backtick or
    ``$(`` is a marker)."""
    if any(t in keyword for t in _IMPLIED):
        return None
    if keyword.endswith(" ") and keyword.strip():
        stem = keyword.rstrip(" ")
        return [_char(c, i == len(stem) - 1, query_sep) for i, c in enumerate(stem)] + [_TRAILING_SPACE]
    return [_char(c, i == len(keyword) - 1, query_sep) for i, c in enumerate(keyword)]


# Keywords that begin alike are compiled as one alternation: hyperscan's compile time grows with
# the number of expressions, and a command vocabulary has hundreds of ";cmd" / "|cmd" keywords.
GROUP_SIZE = 256


def expressions(
    sigs: SignatureSet,
    raw_quotes: bool = False,
    extra: tuple[bytes, ...] = (),
    query_sep: bool = False,
    keywords: frozenset[str] = frozenset(),
) -> list[bytes]:
    """Every prefilter expression for a signature set (keywords, base64 hints, markers), plus a
    log format's own markers (``extra``: the escapes its parser undoes, e.g. HAProxy's ``#XX``).
    ``query_sep``: the format logs path and query as two fields (W3C ``cs-uri-stem`` and
    ``cs-uri-query``) that the parser joins with ``?``, so a keyword's ``?`` may be the space or
    tab between them in the raw line. ``keywords``: more keywords (lower-case ASCII, held to the
    same argument as signature keywords): the Sigma rules' literals."""
    words = sorted(set(sigs.keyword_index) | set(B64_HINTS) | keywords)
    groups: dict[bytes, list[bytes]] = {}
    for w in words:
        pieces = _pieces(w, query_sep)
        if pieces is not None:
            groups.setdefault(pieces[0], []).append(b"".join(pieces[1:]))
    pats = [
        head + b"(?:" + b"|".join(tails[i : i + GROUP_SIZE]) + b")"
        for head, tails in groups.items()
        for i in range(0, len(tails), GROUP_SIZE)
    ]
    markers = [*STATIC_MARKERS, _encoded_markers({c for w in words for c in w})]
    return pats + markers + ([RAW_QUOTE_MARKER] if raw_quotes else []) + list(extra)


def _cache_dir() -> str | None:
    d = os.environ.get("DROPSCAN_CACHE_DIR")
    if d is not None:
        return d or None  # set but empty: no cache
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dropscan")


def _compile(exprs: list[bytes], flags: int):
    """Compile a hyperscan block-mode database, reusing a serialized copy from the user cache
    (``$DROPSCAN_CACHE_DIR``, default ``~/.cache/dropscan``; empty to disable): compiling the
    prefilter takes ~0.4 s, loading it ~1 ms. A cache that is missing, unwritable or corrupt
    only costs the compile."""
    key = hashlib.sha256(
        b"\x00".join([hyperscan.__version__.encode(), platform.machine().encode(), str(flags).encode(), *exprs])
    ).hexdigest()[:32]
    cache = _cache_dir()
    path = os.path.join(cache, f"hs-{key}.db") if cache else None
    if path and os.path.exists(path):
        try:
            with open(path, "rb") as fh:
                db = hyperscan.loadb(fh.read(), hyperscan.HS_MODE_BLOCK)
            db.scratch = hyperscan.Scratch(db)  # a deserialized database comes without one
            return db
        except (OSError, hyperscan.error, ValueError, TypeError):
            pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=[flags] * len(exprs))
    if path:
        try:
            os.makedirs(cache, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(hyperscan.dumpb(db))
            os.replace(tmp, path)
        except (OSError, hyperscan.error):
            pass
    return db


def compile_literals(words: list[str]):
    """A database reporting which of ``words`` (ASCII) occur, ignoring ASCII case; ids are
    indexes into ``words``, each reported once per scan."""
    exprs = [b"".join(bytes((b,)) if chr(b).isalnum() else b"\\x%02x" % b for b in w.encode("ascii")) for w in words]
    return _compile(exprs, hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH)


class Prefilter:
    """Line starts, within a chunk, of the lines that may produce a finding (rejected lines are
    added by the caller).

    Work is linear in the chunk whatever it holds. Hyperscan reports every match, unordered,
    through a Python callback (about a microsecond each), and one hostile line can hold millions
    of marker matches (a 5 MB run of backslashes or ``%25``). So the chunk is scanned in slices
    of whole lines (`SLICE` bytes); a slice that reports more than `MATCH_LIMIT` matches is
    halted and passed whole, every line a candidate. That only over-approximates, which keeps
    the prefilter sound, and the full path then does what it would have done anyway.
    """

    SLICE = 1 << 16
    MATCH_LIMIT = 1 << 12

    def __init__(
        self,
        sigs: SignatureSet,
        raw_quotes: bool = False,
        extra: tuple[bytes, ...] = (),
        query_sep: bool = False,
        keywords: frozenset[str] = frozenset(),
    ):
        if not HAVE_HYPERSCAN:
            raise RuntimeError("hyperscan is not installed")
        self.expressions = expressions(sigs, raw_quotes, extra, query_sep, keywords)
        self._db = _compile(self.expressions, hyperscan.HS_FLAG_CASELESS)

    def passes(self, data: bytes) -> bool:
        """Whether ``data`` (one field as logged, no newline in it) is `LONG_RUN` bytes or more,
        or any expression matches it."""
        if len(data) >= LONG_RUN:
            return True
        hit: list[int] = []
        try:
            self._db.scan(data, match_event_handler=lambda *_a: hit.append(1) or True)  # stop at the first
        except hyperscan.ScanTerminated:
            pass
        return bool(hit)

    def candidates(self, chunk: bytes) -> list[int]:
        starts: list[int] = []
        view = memoryview(chunk)
        pos, n = 0, len(chunk)
        limit = self.MATCH_LIMIT
        while pos < n:
            end = chunk.find(b"\n", min(pos + self.SLICE, n) - 1) + 1 or n
            ends: list[int] = []

            def on_match(_i, _f, to, _fl, _c, ends=ends) -> bool:
                ends.append(to)
                return len(ends) > limit  # True halts the scan

            try:
                self._db.scan(view[pos:end], match_event_handler=on_match)
            except hyperscan.ScanTerminated:
                starts.extend(line_starts(chunk, pos, end))
            else:
                starts.extend(_match_lines(chunk, pos, ends))
            pos = end
        longs = long_lines(chunk)
        return sorted(set(starts).union(longs)) if longs else starts


def long_lines(chunk: bytes, run: int = LONG_RUN) -> list[int]:
    """Starts of the lines of ``chunk`` that hold ``run`` bytes or more before their newline.
    Each step searches ``run`` bytes backwards from ``run`` bytes ahead: a newline there is where
    the next step starts (about ``run`` bytes on), none means the line is that long."""
    out: list[int] = []
    rfind, find = chunk.rfind, chunk.find
    p, n = 0, len(chunk)
    while n - p >= run:
        q = rfind(b"\n", p, p + run)
        if q >= 0:
            p = q + 1
        else:
            out.append(p)
            p = find(b"\n", p + run) + 1 or n
    return out


def _match_lines(chunk: bytes, pos: int, ends: list[int]) -> list[int]:
    """Starts of the lines holding the match ends (relative to ``pos``), each line once; one
    backward and one forward search per line, so linear however many matches a line holds."""
    out: list[int] = []
    line_end = -1
    for e in sorted(set(ends)):
        e += pos
        if e <= line_end:
            continue  # same line as the previous match
        s = chunk.rfind(b"\n", pos, e) + 1 or pos
        out.append(s)
        nl = chunk.find(b"\n", s)
        line_end = nl if nl >= 0 else len(chunk)
    return out


class GrammarCheck:
    """Rejected lines of a chunk under one log format."""

    WALK_BLOCK = 1 << 20

    def __init__(self, fmt: Format, use_hyperscan: bool = True):
        self.fmt = fmt
        self._rx = re.compile(fmt.grammar)
        self._db = None
        if use_hyperscan and HAVE_HYPERSCAN:
            try:
                self._db = _compile([b"^" + fmt.grammar + rb"\z"], 0)
            except hyperscan.error:  # pragma: no cover - a grammar hyperscan cannot take
                self._db = None

    def _all_records(self, chunk: bytes) -> bool:
        ok = []
        self._db.scan(chunk, match_event_handler=lambda *_a: ok.append(1))
        return bool(ok)

    def rejected(self, chunk: bytes) -> list[tuple[int, int]]:
        """(start, end) of every line of ``chunk`` (which ends with a newline) that is not a record."""
        if self._db is not None and self._all_records(chunk):
            return []
        out: list[tuple[int, int]] = []
        pos, n = 0, len(chunk)
        while pos < n:
            # walk a block of whole lines; the grammar stops at the first line that is not a record
            block_end = chunk.rfind(b"\n", pos, pos + self.WALK_BLOCK) + 1
            if block_end <= pos:
                block_end = chunk.find(b"\n", pos) + 1 or n
            end = self._rx.match(chunk, pos, block_end).end()
            if end < block_end:
                line_end = chunk.find(b"\n", end) + 1 or n
                out.append((end, line_end))
                end = line_end
            pos = end
        return out


def line_starts(chunk: bytes, pos: int = 0, end: int | None = None) -> list[int]:
    """Start of every line that begins in ``chunk[pos:end]`` (``pos`` is a line start)."""
    end = len(chunk) if end is None else end
    starts = [pos] if pos < end else []
    find = chunk.find
    i = find(b"\n", pos, end)
    while i != -1 and i + 1 < end:
        starts.append(i + 1)
        i = find(b"\n", i + 1, end)
    return starts


def line_spans(chunk: bytes, starts: Iterable[int]) -> Iterable[tuple[int, int]]:
    """(start, end) of the lines beginning at ``starts``; ``end`` includes the newline."""
    n = len(chunk)
    for s in starts:
        e = chunk.find(b"\n", s)
        yield s, (e + 1 if e >= 0 else n)
