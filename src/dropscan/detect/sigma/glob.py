"""Sigma wildcard values (``*``, ``?``) matched in time linear in the text, without backtracking.

A value is split on ``*`` into pieces of fixed length (literal characters and ``?``, which
matches any one character). The whole text must start with the first piece and end with the
last; the pieces between are found in order, each at its leftmost place after the previous
one. Because every piece has a fixed length, taking the leftmost place never loses a match
(it leaves the most text for the pieces after it), so no choice is ever undone: a value with
``k`` pieces costs at most ``k`` searches of the text, whatever the text. A piece without
``?`` is found with ``str.find``; one with ``?`` with a pattern of literal characters and
``.`` only (no quantifier, no alternation), whose search costs at most the piece's length per
position. Escaped ``\\*`` and ``\\?`` are plain characters: pySigma has already told them apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANY_ONE = None  # a ``?`` in a piece given to `Glob.of`

Piece = str | re.Pattern  # a literal piece, or the pattern of a piece holding ``?``


@dataclass(frozen=True, slots=True)
class Glob:
    pieces: tuple[Piece, ...]  # the text between ``*``s: one piece when there is no ``*``
    lengths: tuple[int, ...]  # each piece's length in characters

    @classmethod
    def of(cls, pieces: list[list[str | None]], search: bool = False) -> Glob:
        """From pieces (the values between ``*``s) of characters and `ANY_ONE`; ``search``
        (a Sigma keyword) finds the value anywhere, as if it began and ended with ``*``."""
        if search:
            pieces = [[], *pieces, []]
        out: list[Piece] = []
        for p in pieces:
            if ANY_ONE in p:
                out.append(re.compile("".join("." if c is ANY_ONE else re.escape(c) for c in p), re.DOTALL))
            else:
                out.append("".join(p))  # type: ignore[arg-type]
        return cls(tuple(out), tuple(len(p) for p in pieces))

    def match(self, text: str) -> bool:
        """Whether ``text`` matches the whole value."""
        pieces, lengths, n = self.pieces, self.lengths, len(text)
        if len(pieces) == 1:
            return n == lengths[0] and _at(pieces[0], text, 0)
        first, last = lengths[0], lengths[-1]
        if first + last > n or not _at(pieces[0], text, 0) or not _at(pieces[-1], text, n - last):
            return False
        pos, end = first, n - last
        for piece, length in zip(pieces[1:-1], lengths[1:-1], strict=True):
            i = _find(piece, text, pos, end)
            if i < 0:
                return False
            pos = i + length
        return True


def _at(piece: Piece, text: str, i: int) -> bool:
    if isinstance(piece, str):
        return text.startswith(piece, i)
    return piece.match(text, i) is not None


def _find(piece: Piece, text: str, start: int, end: int) -> int:
    if isinstance(piece, str):
        return text.find(piece, start, end)
    m = piece.search(text, start, end)
    return -1 if m is None else m.start()
