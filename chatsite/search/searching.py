"""Searching conversations, their titles and their messages' text: `search` for a user's own,
`search_all` for the admin.

SQLite looks words up in the FTS5 tables the migration made (trigram tokenizer, kept by
triggers); PostgreSQL in its pg_trgm indexes, through icontains. Words shorter than three
characters cannot be looked up in a trigram index: they are checked in the text of what the
longer words found, or, in a query of short words only, in the newest SHORT_SCAN messages
(and titles). Answers still streaming are not searched (they are indexed when they end).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils.http import urlencode

from chatsite.chat.models import Conversation, Message
from chatsite.search import snippets, terms
from chatsite.search.snippets import Pieces

RESULTS = 30  # messages found, newest first
TITLE_RESULTS = 10  # conversations found by their title, most recently used first
# The newest index matches of one query that are looked at (with a user's own token they are
# all that user's, so this bounds only a query that matches nearly everything).
CANDIDATES = 2000
SHORT_SCAN = 5000
# What a result shows (a message's other fields, logprobs above all, can be large).
CONVERSATION_FIELDS = ("code", "title", "archived_at", "updated", "owner__username")


@dataclass(frozen=True)
class Found:
    """A conversation whose title matched (message None), or one message that matched."""

    conversation: Conversation
    message: Message | None
    title: Pieces
    excerpt: Pieces

    @property
    def url(self) -> str:
        """The conversation's page, opened at the message."""
        url = reverse("chat:conversation", args=[self.conversation.code])
        return f"{url}?{urlencode({'at': self.message.code})}" if self.message else url

    def payload(self) -> dict:
        return {
            "conversation": str(self.conversation.code),
            "message": str(self.message.code) if self.message else None,
            "role": self.message.role if self.message else None,
            "title": self.title,
            "excerpt": self.excerpt,
            "archived": self.conversation.archived_at is not None,
            "created": (self.message.created if self.message else self.conversation.updated).isoformat(),
            "url": self.url,
        }


def search(user, query: str, *, limit: int = RESULTS, title_limit: int = TITLE_RESULTS) -> list[Found]:
    """The user's own conversations (archived ones too) matching every word of the query: those
    whose title matches (unless messages of theirs match too), then the messages whose text
    does, newest first. Only ever the user's:
    everything starts from Conversation.objects.for_user."""
    if not user.is_authenticated:
        return []
    owner = terms.owner_token(user.pk)
    return _search(Conversation.objects.for_user(user), query, owner, limit, title_limit)


def search_all(query: str, *, limit: int = 100, title_limit: int = 100) -> list[Found]:
    """Everyone's conversations, for the admin, as `search` finds a user's own (each Found's
    conversation has its owner loaded). The admin's conversation search can take the pks:

        found = search_all(term)
        queryset = queryset.filter(pk__in={f.conversation.pk for f in found})

    Only for staff who may see everyone's conversations: it checks no owner.
    """
    return _search(Conversation.objects.select_related("owner"), query, None, limit, title_limit)


def _search(conversations: QuerySet, query: str, owner: str | None, limit: int, title_limit: int) -> list[Found]:
    wanted = terms.parse(query)
    if not wanted:
        return []
    titled = _matching(conversations, "search_title", "title", "title", wanted, owner)
    titled = titled.select_related("owner").only(*CONVERSATION_FIELDS).order_by("-updated")
    titled = titled[:title_limit] if title_limit else []
    messages = Message.objects.filter(conversation__in=conversations).exclude(status=Message.Status.STREAMING)
    found = _matching(messages, "search_message", "body", "text", wanted, owner)
    found = found.select_related("conversation__owner").only(
        "code", "role", "text", "created", *(f"conversation__{name}" for name in CONVERSATION_FIELDS)
    )
    found = found.order_by("-pk")[:limit] if limit else []
    words = wanted.words
    messages_found = [
        Found(m.conversation, m, snippets.marked(m.conversation.title, words), snippets.excerpt(m.text, words))
        for m in found
    ]
    # A conversation with messages found is shown by them (with its title marked): once is enough.
    shown = {f.conversation.pk for f in messages_found}
    titles_found = [Found(c, None, snippets.marked(c.title, words), []) for c in titled if c.pk not in shown]
    return [*titles_found, *messages_found]


def _matching(
    queryset: QuerySet, table: str, column: str, field: str, wanted: terms.Terms, owner: str | None
) -> QuerySet:
    """The rows of queryset whose `field` holds every word; `table`.`column` is its FTS5 index."""
    indexed, short = wanted.indexed, wanted.short
    if indexed and connection.vendor == "sqlite":
        match = terms.fts5_match(column, indexed, owner)
        # Only the table's name (ours) goes into the SQL text; the words are a parameter.
        sql = f"SELECT rowid FROM {table} WHERE {table} MATCH %s ORDER BY rowid DESC LIMIT %s"  # noqa: S608
        queryset = queryset.filter(pk__in=RawSQL(sql, [match, CANDIDATES]))  # noqa: S611
    else:
        for word in indexed:  # PostgreSQL: its trigram index serves icontains (upper(…) LIKE)
            queryset = queryset.filter(**{f"{field}__icontains": word})
    if not indexed:
        newest = queryset.order_by("-pk").values("pk")[:SHORT_SCAN]
        queryset = queryset.model.objects.filter(pk__in=newest)
    for word in short:
        queryset = queryset.filter(**{f"{field}__icontains": word})
    return queryset
