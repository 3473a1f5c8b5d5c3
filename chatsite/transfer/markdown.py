"""A conversation as Markdown, for reading: from its chatsite document (document.py), so an export
and a re-import of it read the same. Labels are in the active language; times in the given zone."""

import json
import re
import zoneinfo
from datetime import datetime

from django.utils.translation import gettext as _

_BACKTICKS = re.compile(r"`+")


def fence(text: str, language: str = "") -> str:
    """text in a code fence longer than any run of backticks in it, so nothing in it closes it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{language}\n{text}\n{marks}"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def _when(value: str | None, zone: zoneinfo.ZoneInfo) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _pretty(arguments: str) -> tuple[str, str]:
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False), "json"
    except (TypeError, ValueError):
        return arguments or "", ""


def _heading_text(text: str) -> str:
    # A title is one line; Markdown would read a leading "#" or a trailing one as markup.
    return " ".join(text.split()).replace("#", "\\#") or _("New chat")


def _message(message: dict, zone: zoneinfo.ZoneInfo) -> list[str]:
    role = message.get("role")
    when = _when(message.get("created"), zone)
    if role == "user":
        who = _("You")
    else:
        model = message.get("model") or ""
        who = _("Assistant (%(model)s)") % {"model": model} if model else _("Assistant")
    lines = [f"## {who}" + (f" · {when}" if when else ""), ""]
    if message.get("reasoning"):
        lines += [_quote(f"**{_('Thinking')}**\n\n{message['reasoning']}"), ""]
    text = message.get("text") or ""
    calls = message.get("tool_calls") or []
    done = 0
    for call in sorted(calls, key=lambda c: c.get("round") or 0):
        at = min(max(done, int(call.get("at") or 0)), len(text))
        if text[done:at].strip():
            lines += [text[done:at].strip("\n"), ""]
        done = at
        arguments, language = _pretty(call.get("arguments") or "")
        lines += [f"**{_('Tool')}** `{call.get('name') or '?'}`", "", fence(arguments, language), ""]
        if call.get("result"):
            lines += [f"*{_('Result')}:*", "", fence(call["result"]), ""]
    if text[done:].strip():
        lines += [text[done:].strip("\n"), ""]
    if message.get("refusal"):
        lines += [f"*{_('The model declined:')}* {message['refusal']}", ""]
    if message.get("error"):
        lines += [f"*{_('Error:')}* {message['error']}", ""]
    for citation in message.get("citations") or []:
        if isinstance(citation, dict) and citation.get("url"):
            lines.append(f"- <{citation['url']}> {citation.get('title') or ''}".rstrip())
    if message.get("citations"):
        lines.append("")
    for attachment in message.get("attachments") or []:
        name = attachment.get("name") or attachment.get("id") or ""
        lines.append(f"*{_('Attached:')}* {name} ({attachment.get('content_type') or attachment.get('kind') or ''})")
    if message.get("attachments"):
        lines.append("")
    return lines


def conversation_markdown(document: dict, zone: zoneinfo.ZoneInfo | None = None) -> str:
    zone = zone or zoneinfo.ZoneInfo("UTC")
    conversation = document.get("conversation") or {}
    lines = [f"# {_heading_text(conversation.get('title') or '')}", ""]
    details = []
    if conversation.get("created"):
        details.append(_("Started %(when)s") % {"when": _when(conversation["created"], zone)})
    if conversation.get("model"):
        details.append(_("model %(model)s") % {"model": conversation["model"].get("name", "")})
    if details:
        lines += ["*" + " · ".join(details) + "*", ""]
    if conversation.get("system_prompt"):
        lines += [_quote(f"**{_('System prompt')}**\n\n{conversation['system_prompt']}"), ""]
    for message in document.get("messages") or []:
        lines += _message(message, zone)
    return "\n".join(lines).rstrip("\n") + "\n"
