"""The admin's search across everyone's conversations, and the excerpts its results show.

`find` is the one place the admin searches: the search app's `search_all` can take its place
without the admin changing (it gets the conversations in the admin's scope and the term, and
gives back the matching ones).
"""

from django.db.models import Exists, Min, OuterRef, Q, QuerySet

from chatsite.chat.models import Conversation, Message

QUERY_WORDS = 8
EXCERPT_CHARS = 160


def find(conversations: QuerySet[Conversation], term: str, *, in_text: bool) -> QuerySet[Conversation]:
    """The conversations with every word of term in their title, their owner's username or
    (in_text) one of their messages' text."""
    for word in term.split()[:QUERY_WORDS]:
        match = Q(title__icontains=word) | Q(owner__username__icontains=word)
        if in_text:
            match |= Exists(Message.objects.filter(conversation=OuterRef("pk"), text__icontains=word))
        conversations = conversations.filter(match)
    return conversations


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
