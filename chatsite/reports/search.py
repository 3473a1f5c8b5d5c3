"""The admin's search across everyone's conversations, and the excerpts its results show.

`find` is the one place the admin searches: message text through the search app's index
(`search_all`, the same search members use, bounded to its newest matches), titles and owners'
usernames by their words, always within the conversations the admin may see.
"""

from django.db.models import Min, Q, QuerySet

from chatsite.chat.models import Conversation, Message
from chatsite.search.searching import search_all

QUERY_WORDS = 8
INDEX_RESULTS = 500  # of the index's matches (newest first) before the admin's scope is applied
EXCERPT_CHARS = 160


def find(conversations: QuerySet[Conversation], term: str, *, in_text: bool) -> QuerySet[Conversation]:
    """The conversations with every word of term in their title or their owner's username, or
    (in_text) in one of their messages' text."""
    named = Q()
    for word in term.split()[:QUERY_WORDS]:
        named &= Q(title__icontains=word) | Q(owner__username__icontains=word)
    if not in_text:
        return conversations.filter(named)
    indexed = {found.conversation.pk for found in search_all(term, limit=INDEX_RESULTS, title_limit=INDEX_RESULTS)}
    return conversations.filter(named | Q(pk__in=indexed))


def excerpts(conversations: list[Conversation], term: str) -> dict[int, str]:
    """For each conversation, a piece of its first message that has the term's first word."""
    words = term.split()
    if not words or not conversations:
        return {}
    first = (
        Message.objects.filter(conversation__in=conversations, text__icontains=words[0])
        .values("conversation_id")
        .annotate(first=Min("pk"))
        .values("first")
    )
    found = Message.objects.filter(pk__in=first).values_list("conversation_id", "text")
    return {conversation: excerpt(text, words[0]) for conversation, text in found}


def excerpt(text: str, word: str) -> str:
    at = max(0, text.lower().find(word.lower()) - EXCERPT_CHARS // 3)
    piece = " ".join(text[at : at + EXCERPT_CHARS].split())
    return ("…" if at else "") + piece + ("…" if at + EXCERPT_CHARS < len(text) else "")
