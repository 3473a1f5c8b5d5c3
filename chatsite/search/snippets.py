"""The piece of a text around what a search found, split into the matched words and the rest.

Pieces, not HTML: the page puts each into a text node and the matches into <mark>, so nothing a
user or a model wrote is ever parsed as markup.
"""

from __future__ import annotations

import re

SNIPPET_CHARS = 160
LEAD_CHARS = 50  # shown before the first match
ELLIPSIS = "…"

Pieces = list[tuple[str, bool]]  # (text, matched)


def _pattern(words: tuple[str, ...]) -> re.Pattern | None:
    if not words:
        return None
    # Longest first, so that a word inside another does not cut it short.
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)


def marked(text: str, words: tuple[str, ...]) -> Pieces:
    """The whole text (a title) with its matches marked."""
    return _split(text, _pattern(words), 0, len(text))


def excerpt(text: str, words: tuple[str, ...], width: int = SNIPPET_CHARS) -> Pieces:
    """About `width` characters of the text on one line, from a little before its first match."""
    flat = " ".join(text.split())
    pattern = _pattern(words)
    first = pattern.search(flat) if pattern else None
    start = max(0, first.start() - LEAD_CHARS) if first else 0
    if start:
        # Begin at a word when there is one near (not inside Chinese or Japanese, which has no spaces).
        space = flat.find(" ", start, first.start())
        start = space + 1 if 0 <= space < start + 15 else start
    end = min(len(flat), start + width)
    pieces = _split(flat, pattern, start, end)
    if start:
        pieces.insert(0, (ELLIPSIS, False))
    if max(end, sum(len(t) for t, _ in pieces) + start) < len(flat):
        pieces.append((ELLIPSIS, False))
    return pieces


def _split(text: str, pattern: re.Pattern | None, start: int, end: int) -> Pieces:
    pieces: Pieces = []
    at = start
    if pattern:
        for match in pattern.finditer(text, start):
            if match.start() >= end:
                break
            if match.start() > at:
                pieces.append((text[at : match.start()], False))
            pieces.append((match.group(), True))
            at = match.end()
    if at < end:
        pieces.append((text[at:end], False))
    return pieces
