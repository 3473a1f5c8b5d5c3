"""What a search query asks for: its words, and how each engine is asked about them.

A query is words separated by spaces, each found anywhere in a text (inside a word too, which
Chinese and Japanese, written without spaces, need); a text matches when it holds them all.
Nothing in a query is syntax: quotes, `*`, `NEAR`, `%` and `_` are looked for as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_WORDS = 8
MAX_WORD_CHARS = 100
# The FTS5 trigram tokenizer (and pg_trgm) index three characters at a time: a shorter word
# cannot be looked up in the index and is looked for in the text itself (see searching.py).
TRIGRAM = 3


@dataclass(frozen=True)
class Terms:
    words: tuple[str, ...]

    @property
    def indexed(self) -> tuple[str, ...]:
        """The words the trigram indexes can find."""
        return tuple(word for word in self.words if len(word) >= TRIGRAM)

    @property
    def short(self) -> tuple[str, ...]:
        return tuple(word for word in self.words if len(word) < TRIGRAM)

    def __bool__(self) -> bool:
        return bool(self.words)


def parse(query: str) -> Terms:
    """The query's distinct words (case aside), the longest first, at most MAX_WORDS of them."""
    words: dict[str, str] = {}
    for word in str(query).split():
        word = "".join(c for c in word if c.isprintable())[:MAX_WORD_CHARS]
        if word and word.casefold() not in words:
            words[word.casefold()] = word
    return Terms(tuple(sorted(words.values(), key=len, reverse=True)[:MAX_WORDS]))


def fts5_phrase(word: str) -> str:
    """The word as an FTS5 string: quoted, its own quotes doubled, so that no operator (AND,
    NEAR, `*`, `^`, a column filter) can come from a user."""
    return '"' + word.replace('"', '""') + '"'


def fts5_match(column: str, words: tuple[str, ...], owner: str | None = None) -> str:
    """An FTS5 MATCH expression: every word in `column`, and the owner's token when given."""
    parts = [f"{{{column}}}: {fts5_phrase(word)}" for word in words]
    if owner is not None:
        parts.insert(0, f"{{owner}}: {fts5_phrase(owner)}")
    return " AND ".join(parts)


def owner_token(user_id: int) -> str:
    """A user's id as the search tables' owner column holds it: the migration's TOKEN, in Python."""
    return chr(0xE000 + user_id // 6400**2) + chr(0xE000 + user_id // 6400 % 6400) + chr(0xE000 + user_id % 6400)
