"""Which tools exist, what the model is told about them, and running one call."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from channels.db import database_sync_to_async
from django.conf import settings

from chatsite.tools import builtin, http
from chatsite.tools.http import ToolFailed
from chatsite.tools.models import HttpTool

BUILTIN = tuple(builtin.DEFINITIONS)


@dataclass(frozen=True)
class ToolSpec:
    """A tool as one answer uses it: resolved once, when the turn is written."""

    name: str
    description: str
    parameters: dict
    url: str = ""  # set for HTTP tools
    timeout: float = 10.0
    authorization: str = field(default="", repr=False)  # never printed

    def definition(self) -> dict:
        """The entry of the request's `tools` list."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters or {"type": "object", "properties": {}},
            },
        }


def _builtin_spec(name: str) -> ToolSpec:
    description, parameters = builtin.DEFINITIONS[name]
    return ToolSpec(name, description, parameters)


def _http_spec(tool: HttpTool) -> ToolSpec:
    return ToolSpec(tool.name, tool.description, tool.parameters, tool.url, float(tool.timeout), tool.authorization)


def choices() -> list[dict]:
    """The tools a user can switch on, for the settings panel."""
    listed = [
        {"name": name, "label": builtin.LABELS[name], "description": builtin.DEFINITIONS[name][0]} for name in BUILTIN
    ]
    for tool in HttpTool.objects.filter(enabled=True).only("name", "description"):
        if tool.name not in builtin.DEFINITIONS:
            listed.append({"name": tool.name, "label": tool.name, "description": tool.description})
    return listed


def specs_for(names: list[str]) -> list[ToolSpec]:
    """The tools behind these names, in order; names that are gone (a deleted or disabled HTTP
    tool) are left out. Built-ins cost no query, so a conversation using only those adds none."""
    wanted = [name for name in names if isinstance(name, str)]
    others = [name for name in wanted if name not in builtin.DEFINITIONS]
    http_tools = {tool.name: tool for tool in HttpTool.objects.filter(enabled=True, name__in=others)} if others else {}
    specs = []
    for name in wanted:
        if name in builtin.DEFINITIONS:
            specs.append(_builtin_spec(name))
        elif name in http_tools:
            specs.append(_http_spec(http_tools[name]))
    return specs


def clean_names(value: object) -> list[str]:
    """A conversation's tool switch as sent by a page: known tool names, each once; or ValueError."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError("tools must be a list of tool names.")
    known = {choice["name"] for choice in choices()}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"Unknown tool: {', '.join(unknown)[:200]}.")
    return list(dict.fromkeys(value))


async def run(
    spec: ToolSpec,
    arguments: str,
    *,
    user_id: int | None,
    conversation: str,
    session: aiohttp.ClientSession,
    search: Callable[[dict, int, str], str] | None = None,
) -> str:
    """One call's result as text for the model, or ToolFailed with what to tell it.

    search: the user's own conversation search (chat/search.py), a synchronous database call.
    """
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        raise ToolFailed("The arguments are not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ToolFailed("The arguments must be a JSON object.")
    if spec.url:
        result = await http.call(session, spec.url, parsed, timeout=spec.timeout, authorization=spec.authorization)
    elif spec.name == "current_time":
        result = builtin.current_time(parsed)
    elif spec.name == "calculator":
        result = builtin.calculator(parsed)
    elif spec.name == "search_conversations":
        if user_id is None or search is None:
            raise ToolFailed("There is no user to search for.")
        result = await database_sync_to_async(search)(parsed, user_id, conversation)
    else:
        raise ToolFailed(f"Unknown tool: {spec.name}.")
    return clip(result)


def clip(text: str) -> str:
    limit = settings.TOOL_RESULT_CHARS
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[cut: the result was {len(text):,} characters, only the first {limit:,} are given]"
