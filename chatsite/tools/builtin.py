"""The built-in tools: safe by construction (no network, no files, only the caller's own data).

The search in the user's own conversations is the chat app's (chat/search.py), handed to
registry.run by its caller: tools know nothing of conversations.
"""

import json
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatsite.tools.calculator import CalculationError, calculate, format_number
from chatsite.tools.http import ToolFailed

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
