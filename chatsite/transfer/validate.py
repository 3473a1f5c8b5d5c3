"""A chatsite document from outside (an import, or one converted from ChatGPT's export) made into
exactly what chatsite stores, or refused.

Text a person or a model wrote (titles, messages, reasoning, prompts) is held to the rule for
text from a browser (chatsite.lib.text.check_text): a control character or a broken character
refuses the file with where it is. A tool's output is made storable instead, as live tool
results are. Anything else out of shape refuses the file: a chatsite document is never half read.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.utils.translation import gettext as _

from chatsite.chat.models import Attachment, Message
from chatsite.chat.parameters import ParameterError, clean_parameters
from chatsite.lib.text import TextRefused, check_text, storable
from chatsite.transfer.document import FORMAT, TOOL_CALL_FIELDS, USAGE_FIELDS, VERSION
from chatsite.transfer.errors import ImportRefused

TITLE_CHARS = 200
STATUSES = {
    Message.Status.COMPLETE,
    Message.Status.STOPPED,
    Message.Status.ERROR,
    Message.Status.INTERRUPTED,
}
TOOL_STATUSES = {"done", "error", "stopped"}
MAX_CITATIONS = 50


def _text(value: object, what: str, *, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ImportRefused(_("%(what)s is not text.") % {"what": what})
    try:
        return check_text(value, what)
    except TextRefused as error:
        raise ImportRefused(error.message) from None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time (UTC when it names no zone), or None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(value: object) -> str | None:
    # Kept as text: a cleaned document is spooled as JSON between reading and writing.
    moment = parse_time(value)
    return moment.isoformat() if moment else None


def clean_title(value: object, what: str) -> str:
    title = " ".join(_text(value, what).split())
    return title[:TITLE_CHARS]


def _tool_call(call: object, what: str) -> dict:
    if not isinstance(call, dict):
        raise ImportRefused(_("%(what)s has a tool call that is not an object.") % {"what": what})
    cleaned = {key: call.get(key) for key in TOOL_CALL_FIELDS}
    cleaned["id"] = storable(str(cleaned["id"] or ""))[:100]
    cleaned["name"] = _text(cleaned["name"], what)[:100]
    cleaned["arguments"] = _text(cleaned["arguments"], what)
    cleaned["round"] = _count(cleaned["round"]) or 0
    cleaned["at"] = _count(cleaned["at"]) or 0
    cleaned["status"] = cleaned["status"] if cleaned["status"] in TOOL_STATUSES else "done"
    # A tool's output, as a live tool's is stored: made storable and cut at TOOL_RESULT_CHARS.
    result = cleaned["result"]
    cleaned["result"] = storable(result)[: settings.TOOL_RESULT_CHARS] if isinstance(result, str) else ""
    cleaned["ms"] = _count(cleaned["ms"])
    return cleaned


def _citation(citation: object) -> dict | None:
    if not isinstance(citation, dict) or not isinstance(citation.get("url"), str):
        return None
    url = storable(citation["url"])[:2000]
    title = citation.get("title")
    return {
        "url": url,
        "title": storable(title)[:500] if isinstance(title, str) else "",
        "start_index": _count(citation.get("start_index")),
        "end_index": _count(citation.get("end_index")),
    }


def _attachment(entry: object, what: str) -> dict:
    if not isinstance(entry, dict):
        raise ImportRefused(_("%(what)s has an attachment that is not an object.") % {"what": what})
    kind = entry.get("kind")
    return {
        "id": str(entry.get("id") or "")[:100],
        # A file's name, from whatever file system it came from: made harmless, not refused.
        "name": "".join(c for c in storable(str(entry.get("name") or "")) if c >= " ")[:200],
        "kind": kind if kind in Attachment.Kind.values else "",
        "content_type": storable(str(entry.get("content_type") or ""))[:100],
        "file": entry.get("file") if isinstance(entry.get("file"), str) else None,
    }


def _message(raw: object, number: int, title: str) -> dict:
    what = _("Message %(number)s of “%(title)s”") % {"number": number, "title": title}
    if not isinstance(raw, dict) or raw.get("role") not in Message.Role.values:
        raise ImportRefused(_("%(what)s is not a chatsite message.") % {"what": what})
    if not isinstance(raw.get("attachments") or [], list):
        raise ImportRefused(_("%(what)s is not a chatsite message.") % {"what": what})
    message = {
        "role": raw["role"],
        "created": _iso(raw.get("created")),
        "text": _text(raw.get("text"), what),
        "attachments": [_attachment(a, what) for a in raw.get("attachments") or []],
    }
    if raw["role"] == Message.Role.ASSISTANT:
        usage = raw.get("usage") if isinstance(raw.get("usage"), dict) else {}
        status = raw.get("status")
        calls = raw.get("tool_calls") or []
        citations = raw.get("citations") or []
        if not isinstance(calls, list) or not isinstance(citations, list):
            raise ImportRefused(_("%(what)s is not a chatsite message.") % {"what": what})
        message.update(
            model=_text(raw.get("model"), what)[:200],
            provider=_text(raw.get("provider"), what)[:100],
            # One still streaming when it was exported was cut off there.
            status=status if status in STATUSES else Message.Status.INTERRUPTED if status else Message.Status.COMPLETE,
            finish_reason=_text(raw.get("finish_reason"), what)[:40],
            reasoning=_text(raw.get("reasoning"), what),
            refusal=_text(raw.get("refusal"), what),
            error=_text(raw.get("error"), what),
            usage={name: _count(usage.get(name)) for name in USAGE_FIELDS},
            usage_estimated=usage.get("estimated") is True,
            tool_calls=[_tool_call(call, what) for call in calls],
            citations=[c for c in map(_citation, citations[:MAX_CITATIONS]) if c],
        )
    return message


def check_format(raw: dict) -> None:
    """ImportRefused unless raw is a chatsite conversation document this chatsite reads."""
    if raw.get("format") != FORMAT:
        raise ImportRefused(_("The file is JSON, but not a chatsite conversation or a ChatGPT export."))
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION or version < 1:
        raise ImportRefused(
            _(
                "The file was written by another version of chatsite (format %(version)s); "
                "this one reads version %(ours)s."
            )
            % {"version": str(version)[:20], "ours": VERSION}
        )


def clean_document(raw: object) -> dict:
    """The document's conversation and messages as chatsite stores them; ImportRefused otherwise."""
    if not isinstance(raw, dict):
        raise ImportRefused(_("The file is JSON, but not a chatsite conversation or a ChatGPT export."))
    check_format(raw)
    conversation = raw.get("conversation")
    messages = raw.get("messages")
    if not isinstance(conversation, dict) or not isinstance(messages, list):
        raise ImportRefused(_("The file is not a whole chatsite conversation (it has no conversation or messages)."))
    title = clean_title(conversation.get("title"), _("A conversation's title")) or _("Imported chat")
    what = _("The settings of “%(title)s”") % {"title": title}
    model = conversation.get("model")
    try:
        parameters = clean_parameters(conversation.get("parameters") or {})
    except ParameterError:
        parameters = None  # from another site or version: the conversation keeps the defaults
    tools = conversation.get("tools") or []
    cleaned = {
        "id": str(conversation.get("id") or "")[:100],
        "title": title,
        "created": _iso(conversation.get("created")),
        "updated": _iso(conversation.get("updated")),
        "archived": conversation.get("archived") is True,
        "model": _text(model.get("name"), what)[:200] if isinstance(model, dict) else "",
        "system_prompt": _text(conversation.get("system_prompt"), what),
        "parameters": parameters or {},
        "parameters_dropped": parameters is None,
        "tools": [name for name in tools if isinstance(name, str)] if isinstance(tools, list) else [],
    }
    if len(cleaned["system_prompt"]) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ImportRefused(
            _("The system prompt of “%(title)s” is longer than %(count)s characters.")
            % {"title": title, "count": f"{settings.CHAT_MAX_MESSAGE_CHARS:,}"}
        )
    return {"conversation": cleaned, "messages": [_message(m, n, title) for n, m in enumerate(messages, 1)]}
