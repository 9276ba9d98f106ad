"""The pure core: lines in, findings out.

`Scanner.scan_chunk` takes a chunk of whole lines (bytes) plus where it sits in its file, and
returns the findings and the line accounting (lines = records + rejected). It does no I/O and
keeps no state between calls, so one process, a process pool and Dask workers all map the same
function. The compiled parts (signatures, prefilter, grammars) are built once per process.

Fast path: the chunk grammar proves which lines are records, the prefilter picks the few lines
that could produce a finding, and only those (and the rare lines that are not records) are
parsed, decoded and matched. Full path (``fast=False``, or no hyperscan): every line is. Both
give the same findings; the test suite holds them to it.

A line that reaches a deterministic bound (`dropscan.match`, `dropscan.decode`) is reported,
never passed over: its finding carries ``unscanned.<bound>`` rule ids after the signatures that
matched, or, when none did, it is a finding of its own category ``unscanned``; ``unscanned``
counts such lines. Bounds are only reached on fields the fast path inspects too (a field long
enough to be cut passes the prefilter's long-line check), so both paths report them alike.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..formats.logformat import Format, Record, apache_unescape, strip_eol
from .attribution import Network, attribute
from .decode import DECODE_DEPTH, FIELD_CUT, View, views
from .egress import add_destination
from .findings import Finding
from .match import MATCH_BUDGET, MATCH_COUNT, Bounds, Hit, Matcher
from .prefilter import HAVE_HYPERSCAN, GrammarCheck, Prefilter, line_spans, line_starts
from .signatures import CATEGORIES, SEVERITIES, UNSCANNED, SignatureSet

if TYPE_CHECKING:  # Sigma is imported only by a run with --sigma (start-up time)
    from .sigma.load import SigmaPack
    from .sigma.run import SigmaHit

# Lines scanned at once. Per-line bookkeeping (spans, candidate starts) and the findings of a
# piece are held until it is done: a 4 MiB chunk of 10-byte lines, all findings, took about
# 0.85 GB in one piece, and about 60 MiB in pieces of this many lines (benchmarks/memory.py).
MAX_PIECE_LINES = 1 << 14


@dataclass(slots=True)
class ChunkResult:
    lines: int = 0
    records: int = 0
    rejected: int = 0
    unscanned: int = 0  # lines a bound stopped short (each also a finding)
    findings: list[Finding] = field(default_factory=list)
    rejects: list[bytes] = field(default_factory=list)

    def add(self, other: ChunkResult) -> None:
        self.lines += other.lines
        self.records += other.records
        self.rejected += other.rejected
        self.unscanned += other.unscanned
        self.findings.extend(other.findings)
        self.rejects.extend(other.rejects)


@dataclass(slots=True)
class LineAnalysis:
    """Everything the pipeline saw on one line (for ``dropscan explain``)."""

    record: Record | None
    fields: list[tuple[str, str, list[View]]]
    hits: list[Hit]
    bounds: Bounds


class Scanner:
    def __init__(
        self, sigs: SignatureSet, fast: bool = True, trusted: tuple[Network, ...] = (), sigma: SigmaPack | None = None
    ):
        self.sigs = sigs
        self.trusted = trusted  # proxies whose X-Forwarded-For entries are believed (see attribution)
        self.matcher = Matcher(sigs)
        self.sigma = sigma if sigma is not None and sigma.rules else None
        # Sigma rules' literals feed the prefilter; a pack with a rule that has none takes the full path
        self.fast = fast and HAVE_HYPERSCAN and (self.sigma is None or self.sigma.keywords is not None)
        self._sigma_keywords = self.sigma.keywords if self.sigma is not None and self.sigma.keywords else frozenset()
        self._prefilters: dict[tuple, Prefilter] = {}
        self._grammars: dict[str, GrammarCheck] = {}

    def prefilter(self, fmt: Format | None) -> Prefilter | None:
        """The prefilter for a format (None on the full path)."""
        if not self.fast:
            return None
        key = (fmt.unquoted_inspected, fmt.markers, fmt.query_sep) if fmt is not None else (False, (), False)
        pf = self._prefilters.get(key)
        if pf is None:
            pf = self._prefilters[key] = Prefilter(self.sigs, *key, keywords=self._sigma_keywords)
        return pf

    def grammar(self, fmt: Format) -> GrammarCheck:
        g = self._grammars.get(fmt.format)
        if g is None:
            g = self._grammars[fmt.format] = GrammarCheck(fmt, use_hyperscan=self.fast)
        return g

    # --- one line ------------------------------------------------------------------------
    def analyse(
        self, line: bytes, fmt: Format | None, is_record: bool | None = None, skip_fields: bool = False
    ) -> LineAnalysis:
        """Parse, decode and match one line (``is_record=None``: let the parser decide).

        With ``skip_fields`` (the fast path), a field whose bytes as logged do not pass the
        prefilter is not decoded at all: the prefilter's soundness argument holds for any
        slice of a line, so such a field cannot produce a finding."""
        rec = fmt.parse(line) if fmt is not None and is_record is not False else None
        if rec is not None:
            fields = rec.inspected_fields()
        else:
            text = apache_unescape(strip_eol(line))
            fields = [("line", text, b"")] if text.strip() else []  # a blank line holds no keyword
        pf = self.prefilter(fmt) if skip_fields and rec is not None else None
        bounds = Bounds()
        seen, hits = [], []
        for name, text, raw in fields:
            if bounds.spent:
                break  # the line's matching work is spent: later fields are not inspected
            if pf is not None and not pf.passes(raw):
                continue
            vs = views(text, bounds.at(name))
            seen.append((name, text, vs))
            hits.extend(self.matcher.match_field(name, text, bounds, vs))
        return LineAnalysis(rec, seen, hits, bounds)

    def scan_line(
        self,
        line: bytes,
        fmt: Format | None,
        *,
        log_file: str = "-",
        line_no: int = 1,
        offset: int = 0,
        is_record: bool | None = None,
        skip_fields: bool = False,
    ) -> tuple[Finding | None, bool]:
        """(finding or None, whether a bound stopped the line short) for one line."""
        a = self.analyse(line, fmt, is_record, skip_fields)
        finding = self.finding(a, log_file, line_no, offset)
        return finding, bool(a.bounds.cut)

    def finding(self, a: LineAnalysis, log_file: str, line_no: int, offset: int) -> Finding | None:
        """The finding of an analysed line: its signature hits and the bounds it reached, then
        the Sigma rules (on records only), which share the line's bounds."""
        sigma_hits: list[SigmaHit] = []
        if self.sigma is not None and a.record is not None:
            from .sigma.run import match_record

            sigma_hits = match_record(self.sigma, a.record, {name: vs for name, _t, vs in a.fields}, a.bounds)
        if a.hits:
            finding = build_finding(a, log_file, line_no, offset, self.trusted)
            finding.rule_ids.extend(h.rule.rule_id for h in sigma_hits)
            return finding
        if sigma_hits:
            finding = sigma_finding(a, sigma_hits, log_file, line_no, offset, self.trusted)
            finding.rule_ids.extend(f"{UNSCANNED}.{reason}" for reason in a.bounds.cut)
            return finding
        if a.bounds.cut:
            return build_finding(a, log_file, line_no, offset, self.trusted)
        return None

    # --- a chunk ---------------------------------------------------------------------------
    def scan_pieces(
        self, chunk: bytes, fmt: Format | None, *, offset: int = 0, line_no: int = 1, **where
    ) -> Iterator[ChunkResult]:
        """`scan_chunk` (``where``: its ``log_file`` and ``keep_rejects``) over pieces of whole
        lines, at most `MAX_PIECE_LINES` each, so that what a chunk holds in memory is bounded
        by its bytes, not by how many lines they make; the caller takes each piece's findings
        before the next is scanned (a 4 MiB chunk of 230-byte lines is two pieces)."""
        n = len(chunk)
        pos = 0
        while pos < n:  # an empty chunk has no piece
            marks = line_marks(chunk, pos, MAX_PIECE_LINES)
            end = marks[-1][0]
            r = self._scan(
                chunk[pos:end] if end - pos < n else chunk,
                fmt,
                [(e - pos, lines) for e, lines in marks],
                offset=offset + pos,
                line_no=line_no,
                **where,
            )
            line_no += r.lines
            pos = end
            yield r

    def scan_chunk(
        self,
        chunk: bytes,
        fmt: Format | None,
        *,
        log_file: str,
        offset: int = 0,
        line_no: int = 1,
        keep_rejects: bool = False,
    ) -> ChunkResult:
        """Scan a chunk of whole lines that starts at byte ``offset`` / line ``line_no`` of
        ``log_file``. The last line may lack its newline (end of file)."""
        return self._scan(
            chunk, fmt, line_marks(chunk), log_file=log_file, offset=offset, line_no=line_no, keep_rejects=keep_rejects
        )

    def _scan(
        self,
        chunk: bytes,
        fmt: Format | None,
        marks: list[tuple[int, int]],
        *,
        log_file: str,
        offset: int,
        line_no: int,
        keep_rejects: bool = False,
    ) -> ChunkResult:
        """`scan_chunk` given the chunk's `line_marks`: a candidate's line number is counted
        from the mark before it, so no byte is counted twice."""
        res = ChunkResult()
        if not chunk:
            return res
        if not chunk.endswith(b"\n"):
            chunk += b"\n"
        if fmt is not None:
            rejected = self.grammar(fmt).rejected(chunk)
        else:
            rejected = list(line_spans(chunk, line_starts(chunk)))
        res.rejected = len(rejected)
        if keep_rejects:
            res.rejects = [chunk[s:e] for s, e in rejected]
        rejected_starts = {s for s, _ in rejected}
        pf = self.prefilter(fmt)
        if pf is not None:
            # a rejected line is scanned whole, its field quotes included, which the quote
            # markers are built to ignore: one that holds a double quote is always a candidate
            # (the others, blank or binary, take the prefilter like any line)
            quoted = {s for s, e in rejected if chunk.find(b'"', s, e) >= 0}
            starts = sorted(quoted.union(pf.candidates(chunk))) if quoted else pf.candidates(chunk)
        else:
            starts = line_starts(chunk)
        ends = [e for e, _ in marks]
        for s, e in line_spans(chunk, starts):
            i = bisect_right(ends, s)  # marks at or before the line start
            mark, before = marks[i - 1] if i else (0, 0)
            number = line_no + before + chunk.count(b"\n", mark, s)
            a = self.analyse(chunk[s:e], fmt, s not in rejected_starts, pf is not None)
            finding = self.finding(a, log_file, number, offset + s)
            res.unscanned += bool(a.bounds.cut)
            if finding is not None:
                res.findings.append(finding)
        res.lines = marks[-1][1]
        res.records = res.lines - res.rejected
        return res


def line_marks(chunk: bytes, pos: int = 0, limit: int | None = None) -> list[tuple[int, int]]:
    """(end, lines from ``pos`` to end) after each block of whole lines from ``pos``, as many
    blocks as fit in ``limit`` lines (all when None). A block spans at most `MAX_PIECE_LINES`
    bytes, so holds at most that many lines (a longer line is a block of its own, and an
    unterminated last line counts as one): the first block always fits, and each byte is
    counted once."""
    marks: list[tuple[int, int]] = []
    n, lines = len(chunk), 0
    while pos < n:
        end = chunk.rfind(b"\n", pos, pos + MAX_PIECE_LINES) + 1
        if end <= pos:
            end = chunk.find(b"\n", pos) + 1 or n
        k = chunk.count(b"\n", pos, end) or 1
        if limit is not None and lines + k > limit:
            break
        lines += k
        marks.append((end, lines))
        pos = end
    return marks


_CATEGORY_ORDER = {c: i for i, c in enumerate(CATEGORIES)}


def primary_hit(hits: list[Hit]) -> Hit:
    """The hit an analyst should read first: highest severity, then destinations, then the
    earlier category (droppers before probes)."""
    return max(hits, key=lambda h: (h.rank, bool(h.destinations), -_CATEGORY_ORDER[h.sig.category]))


UNSCANNED_SEVERITY = "medium"  # a line nobody knows the content of deserves a look
# every rule id a finding may carry besides the signatures' own
UNSCANNED_RULE_IDS = tuple(f"{UNSCANNED}.{r}" for r in (FIELD_CUT, DECODE_DEPTH, MATCH_BUDGET, MATCH_COUNT))


_RECORD_COLUMNS = (
    "timestamp",
    "vhost",
    "client_ip",
    "peer_ip",
    "method",
    "request",
    "status",
    "bytes",
    "user_agent",
    "referer",
)


def _record_columns(rec, trusted: tuple[Network, ...]) -> dict:
    """A finding's columns taken from its record (all None for a line that is no record)."""
    if rec is None:
        return dict.fromkeys(_RECORD_COLUMNS)
    return {
        "timestamp": rec.time,
        "vhost": rec.vhost,
        "client_ip": attribute(rec.client, rec.forwarded_for, trusted),
        "peer_ip": rec.client,
        "method": rec.method,
        "request": rec.request,
        "status": rec.status,
        "bytes": rec.bytes,
        "user_agent": rec.user_agent,
        "referer": rec.referer,
    }


def build_finding(
    a: LineAnalysis, log_file: str, line_no: int, offset: int, trusted: tuple[Network, ...] = ()
) -> Finding:
    """The finding of a line with hits, or with a bound reached (or both)."""
    rule_ids: list[str] = []
    egress = []
    if a.hits:
        hits = sorted(a.hits, key=lambda h: (-h.rank, _CATEGORY_ORDER[h.sig.category]))
        primary = primary_hit(hits)
        for h in hits:
            if h.sig.id not in rule_ids:
                rule_ids.append(h.sig.id)
            for d in h.destinations:
                add_destination(egress, d)
        rule_ids.remove(primary.sig.id)
        rule_ids.insert(0, primary.sig.id)
        field_name, category, severity = primary.field, primary.sig.category, SEVERITIES[primary.rank]
        field_views = next(vs for name, _t, vs in a.fields if name == field_name)
        view = primary.view
        shown = view if view.name.startswith(("jndi", "base64")) else field_views[0]
    else:
        # a Sigma rule may reach a bound on a field the signatures never decoded
        field_name = a.bounds.field or (a.fields[0][0] if a.fields else "target")
        category, severity = UNSCANNED, UNSCANNED_SEVERITY
        field_views = next((vs for name, _t, vs in a.fields if name == field_name), [View("url", "")])
        view = shown = field_views[0]
    rule_ids.extend(f"{UNSCANNED}.{reason}" for reason in a.bounds.cut)
    return Finding(
        log_file=log_file,
        line_no=line_no,
        offset=offset,
        **_record_columns(a.record, trusted),
        field=field_name,
        decoded=shown.text,
        rule_ids=rule_ids,
        category=category,
        severity=severity,
        egress=egress,
        view=view.name,
    )


def sigma_finding(
    a: LineAnalysis, hits: list[SigmaHit], log_file: str, line_no: int, offset: int, trusted: tuple[Network, ...] = ()
) -> Finding:
    """A finding only Sigma rules matched: category ``sigma``, the highest rule level as its
    severity, rule ids ``sigma:<id>`` (highest level first), no destinations (a Sigma rule
    says nothing about where a payload would connect)."""
    hits = sorted(hits, key=lambda h: -SEVERITIES.index(h.rule.severity))
    rec = a.record
    assert rec is not None  # Sigma rules only run on records
    field = hits[0].field
    text = {"target": rec.target, "user_agent": rec.user_agent, "referer": rec.referer}.get(field) or ""
    shown = next((vs[0].text for name, _t, vs in a.fields if name == field), text)
    return Finding(
        log_file=log_file,
        line_no=line_no,
        offset=offset,
        **_record_columns(rec, trusted),
        field=field,
        decoded=shown,
        rule_ids=[h.rule.rule_id for h in hits],
        category="sigma",
        severity=hits[0].rule.severity,
        egress=[],
        view="url",
    )
