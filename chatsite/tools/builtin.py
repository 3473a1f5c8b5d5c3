"""The built-in tools: safe by construction (no network, no files, only the caller's own data)."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q

from chatsite.tools.calculator import CalculationError, calculate, format_number
from chatsite.tools.http import ToolFailed

SEARCH_RESULTS = 5
SNIPPET_CHARS = 300

# name -> (description, JSON Schema of the arguments)
DEFINITIONS = {
    "current_time": (
        "The current date, time and weekday, in a given IANA time zone (UTC by default).",
        {
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "e.g. Europe/Paris or Asia/Tokyo"}},
        },
    ),
    "calculator": (
        "Evaluate an arithmetic expression exactly: + - * / // % ** (or ^), parentheses, "
        "sqrt, exp, log, sin, cos, tan, floor, ceil, abs, round, min, max, pi, e.",
        {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "e.g. (17.5 * 3) / 4 + sqrt(2)"}},
            "required": ["expression"],
        },
    ),
    "search_conversations": (
        "Search the user's own earlier conversations for words; returns matching excerpts with "
        "their conversation titles and dates.",
        {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "words to look for"}},
            "required": ["query"],
        },
    ),
}
LABELS = {
    "current_time": "Date and time",
    "calculator": "Calculator",
    "search_conversations": "Search my conversations",
}


def current_time(arguments: dict, now: datetime | None = None) -> str:
    name = arguments.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolFailed(f"Unknown time zone: {str(name)[:60]}. Use an IANA name such as Europe/Paris.") from None
    moment = (now or datetime.now(tz=zone)).astimezone(zone)
    return json.dumps(
        {"datetime": moment.isoformat(timespec="seconds"), "weekday": moment.strftime("%A"), "timezone": str(name)}
    )


def calculator(arguments: dict) -> str:
    try:
        return format_number(calculate(arguments.get("expression", "")))
    except CalculationError as error:
        raise ToolFailed(str(error)) from None


def search_conversations(arguments: dict, user_id: int, current: str | None = None) -> str:
    """Messages of this user's other conversations (never anyone else's, nor the one asking)
    containing every word of the query."""
    from chatsite.chat.models import Message

    words = str(arguments.get("query", "")).split()[:8]
    if not words:
        raise ToolFailed("The query is empty.")
    match = Q()
    for word in words:
        match &= Q(text__icontains=word)
    found = (
        Message.objects.filter(match, conversation__owner_id=user_id)
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
