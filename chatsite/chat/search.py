"""Searching a user's own conversations (the built-in search tool), by the one ownership path."""

import json

from django.contrib.auth import get_user_model
from django.db.models import Q

from chatsite.chat.models import Conversation, Message
from chatsite.tools.http import ToolFailed

SEARCH_RESULTS = 5
SNIPPET_CHARS = 300
QUERY_WORDS = 8


def search_conversations(arguments: dict, user_id: int, current: str | None = None) -> str:
    """Messages of this user's other conversations (never anyone else's, nor the one asking)
    containing every word of the query, as the tool's JSON result."""
    words = str(arguments.get("query", "")).split()[:QUERY_WORDS]
    if not words:
        raise ToolFailed("The query is empty.")
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise ToolFailed("There is no user to search for.")
    match = Q()
    for word in words:
        match &= Q(text__icontains=word)
    found = (
        Message.objects.filter(match, conversation__in=Conversation.objects.for_user(user))
        .exclude(conversation__code=current)
        .select_related("conversation")
        .order_by("-pk")[:SEARCH_RESULTS]
    )
    results = [
        {
            "conversation": message.conversation.title,
            "date": message.created.date().isoformat(),
            "role": message.role,
            "excerpt": _excerpt(message.text, words[0]),
        }
        for message in found
    ]
    return json.dumps(results, ensure_ascii=False) if results else "No message matches."


def _excerpt(text: str, word: str) -> str:
    at = max(0, text.lower().find(word.lower()) - SNIPPET_CHARS // 3)
    excerpt = " ".join(text[at : at + SNIPPET_CHARS].split())
    return ("…" if at else "") + excerpt + ("…" if at + SNIPPET_CHARS < len(text) else "")
