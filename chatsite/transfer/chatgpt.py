"""A conversation from ChatGPT's data export (conversations.json) as a chatsite document.

ChatGPT keeps a conversation as a tree: `mapping` holds every node (an id, its `message` or null,
its `parent` and `children`), and every edit or regeneration starts a branch. What the user last
saw is the branch from `current_node` up to the root, so only that branch is imported, in order.
On it:
- user messages become chatsite questions (text parts joined; images and files by their
  `asset_pointer` or `metadata.attachments`, taken from the export's zip when it is given);
- the assistant and tool nodes between two questions become one chatsite answer, as chatsite
  stores an answer that called tools: text, then each call (an assistant node whose
  `recipient` is a tool, e.g. `python`) with its result (the next `tool` node), then more text;
  `thoughts` become its reasoning, `model_slug` its model;
- a visible system message becomes the system prompt; hidden nodes (the empty system root,
  custom instructions, `is_visually_hidden_from_conversation`) and ChatGPT's own labels
  (`reasoning_recap`) are left out, and the report says what else was.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chatsite.transfer.document import FORMAT, VERSION

PROVIDER = "ChatGPT"
TEXT_TYPES = {"text", "multimodal_text"}
# Parts that carry a file in the export's zip (an image the user sent, or one a tool made).
ASSET_PARTS = {"image_asset_pointer", "audio_asset_pointer"}


@dataclass
class Converted:
    document: dict | None
    source_id: str
    title: str
    skipped: str = ""  # why nothing was imported
    notes: list[str] = field(default_factory=list)  # what was left out of it


class _Skip(Exception):
    pass


def _iso(epoch: object) -> str | None:
    if isinstance(epoch, int | float) and not isinstance(epoch, bool) and 0 < epoch < 32503680000:  # year 3000
        return datetime.fromtimestamp(epoch, UTC).isoformat()
    return None


def _strings(value: object) -> str:
    return value if isinstance(value, str) else ""


def looks_like(raw: object) -> bool:
    """Whether a JSON value is a conversation of ChatGPT's export."""
    return isinstance(raw, dict) and isinstance(raw.get("mapping"), dict)


def branch(raw: dict) -> tuple[list[dict], int]:
    """The nodes from the root to the current node, and how many messages lie on other branches."""
    mapping = raw["mapping"]
    current = raw.get("current_node")
    if current not in mapping:
        # No current node named: the newest leaf is what was seen last.
        leaves = [n for n in mapping.values() if isinstance(n, dict) and not n.get("children")]
        if not leaves:
            raise _Skip(_("it has no messages."))
        current = max(leaves, key=lambda n: _time_of(n) or 0).get("id")
    path, seen = [], set()
    node_id = current
    while node_id is not None:
        if not isinstance(node_id, str) or node_id in seen:
            raise _Skip(_("its messages form a loop, so it is not a ChatGPT conversation."))
        seen.add(node_id)
        node = mapping.get(node_id)
        if not isinstance(node, dict):
            break  # a parent the export does not hold: the branch starts here
        path.append(node)
        node_id = node.get("parent")
    path.reverse()
    others = sum(
        1
        for node_id, node in mapping.items()
        if node_id not in seen and isinstance(node, dict) and _visible_message(node.get("message"))
    )
    return path, others


def _time_of(node: dict) -> float | None:
    message = node.get("message")
    value = message.get("create_time") if isinstance(message, dict) else None
    return value if isinstance(value, int | float) else None


def _visible_message(message: object) -> bool:
    if not isinstance(message, dict):
        return False
    role = (message.get("author") or {}).get("role") if isinstance(message.get("author"), dict) else None
    hidden = isinstance(message.get("metadata"), dict) and message["metadata"].get(
        "is_visually_hidden_from_conversation"
    )
    return role in ("user", "assistant") and not hidden


class _Builder:
    """Walks the branch and builds the chatsite messages."""

    def __init__(self, find_file: Callable[[str], str | None] | None) -> None:
        self.find_file = find_file
        self.messages: list[dict] = []
        self.answer: dict | None = None
        self.system_prompt = ""
        self.left_out: Counter[str] = Counter()
        self.missing_files = 0
        self.last_time: str | None = None

    def _attachment(self, asset_id: str, name: str, content_type: str = "") -> dict | None:
        """The attachment of an asset (file-service://file-abc, sediment://file_abc: its last part)."""
        entry = self.find_file(asset_id) if self.find_file and asset_id else None
        if entry is None:
            self.missing_files += 1
            return None
        return {"id": asset_id, "name": name or entry.rsplit("/", 1)[-1], "content_type": content_type, "file": entry}

    def user(self, message: dict, when: str | None) -> None:
        content = message.get("content") or {}
        metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
        # The files the user attached, by id, with the names they had (images among them).
        listed = {
            item["id"]: item
            for item in metadata.get("attachments") or []
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        }
        texts, attachments, seen = [], [], set()
        for part in content.get("parts") or []:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                kind = part.get("content_type")
                if kind == "audio_transcription":
                    texts.append(_strings(part.get("text")))
                elif kind in ASSET_PARTS and isinstance(part.get("asset_pointer"), str):
                    asset_id = part["asset_pointer"].rsplit("/", 1)[-1]
                    seen.add(asset_id)
                    if found := self._attachment(asset_id, _strings(listed.get(asset_id, {}).get("name"))):
                        attachments.append(found)
                else:
                    self.left_out[str(kind)[:40]] += 1
        for asset_id, item in listed.items():
            if asset_id not in seen:
                found = self._attachment(asset_id, _strings(item.get("name")), _strings(item.get("mime_type")))
                if found:
                    attachments.append(found)
        text = "\n".join(t for t in texts if t)
        if not text.strip() and not attachments:
            return
        self.answer = None
        self.messages.append({"role": "user", "created": when, "text": text, "attachments": attachments})

    def _answer(self, when: str | None) -> dict:
        if self.answer is None:
            self.answer = {
                "role": "assistant",
                "created": when,
                "text": "",
                "reasoning": "",
                "model": "",
                "provider": PROVIDER,
                "status": "complete",
                "tool_calls": [],
            }
            self.messages.append(self.answer)
        return self.answer

    def assistant(self, message: dict, when: str | None) -> None:
        content = message.get("content") or {}
        kind = content.get("content_type")
        recipient = message.get("recipient") or "all"
        answer = self._answer(when)
        metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
        if isinstance(metadata.get("model_slug"), str):
            answer["model"] = metadata["model_slug"]
        if kind == "thoughts":
            thoughts = [t for t in content.get("thoughts") or [] if isinstance(t, dict)]
            text = "\n\n".join(
                "\n\n".join(x for x in (_strings(t.get("summary")), _strings(t.get("content"))) if x) for t in thoughts
            )
            answer["reasoning"] = "\n\n".join(x for x in (answer["reasoning"], text) if x)
        elif kind == "reasoning_recap":
            return  # "Thought for 10 seconds": ChatGPT's label, not the model's words
        elif recipient != "all":
            arguments = _strings(content.get("text")) or "\n".join(
                p for p in content.get("parts") or [] if isinstance(p, str)
            )
            answer["tool_calls"].append(
                {
                    "id": _strings(message.get("id")),
                    "name": recipient,
                    "arguments": arguments,
                    "round": len(answer["tool_calls"]),
                    "at": len(answer["text"]),
                    "status": "done",
                    "result": "",
                }
            )
        elif kind in TEXT_TYPES:
            text = "\n".join(p for p in content.get("parts") or [] if isinstance(p, str))
            for part in content.get("parts") or []:
                if isinstance(part, dict):
                    self.left_out[str(part.get("content_type"))[:40]] += 1
            if text.strip():
                answer["text"] = f"{answer['text']}\n\n{text}" if answer["text"] else text
        elif kind == "code":
            code = _strings(content.get("text"))
            language = _strings(content.get("language"))
            if language == "unknown":
                language = ""
            answer["text"] += f"\n\n```{language}\n{code}\n```" if answer["text"] else f"```{language}\n{code}\n```"
        else:
            self.left_out[str(kind)[:40]] += 1

    def tool(self, message: dict, when: str | None) -> None:
        content = message.get("content") or {}
        kind = content.get("content_type")
        name = _strings((message.get("author") or {}).get("name")) or "tool"
        if kind == "execution_output" or kind == "system_error":
            result = _strings(content.get("text"))
        elif kind == "tether_browsing_display":
            result = _strings(content.get("result")) or _strings(content.get("summary"))
        elif kind == "tether_quote":
            parts = (content.get("title"), content.get("url"), content.get("text"))
            result = "\n".join(_strings(part) for part in parts if _strings(part))
        else:
            result = "\n".join(p for p in content.get("parts") or [] if isinstance(p, str))
            pictures = [p for p in content.get("parts") or [] if isinstance(p, dict)]
            if pictures:
                self.left_out[_("pictures made by a tool")] += len(pictures)
        answer = self._answer(when)
        calls = answer["tool_calls"]
        pending = [c for c in calls if not c["result"]]
        call = next((c for c in reversed(pending) if c["name"] == name), pending[-1] if pending else None)
        if call is None and not result:
            return  # more of a call's output with no text (the pictures counted above)
        if call is None and calls and calls[-1]["name"] == name and calls[-1]["at"] == len(answer["text"]):
            call = calls[-1]  # the same call's next output (python's text, then its picture's caption)
            result = f"{call['result']}\n{result}"
        elif call is None:  # a tool that spoke without being called (browsing's quotes, say)
            call = {"id": "", "name": name, "arguments": "", "round": len(calls)}
            call.update(at=len(answer["text"]), status="done", result="")
            calls.append(call)
        call["result"] = result or "…"
        if kind == "system_error":
            call["status"] = "error"

    def system(self, message: dict) -> None:
        content = message.get("content") or {}
        text = "\n".join(p for p in content.get("parts") or [] if isinstance(p, str)).strip()
        if text and not self.system_prompt:
            self.system_prompt = text
        elif text:
            self.left_out[_("system messages")] += 1

    def add(self, message: dict) -> None:
        author = message.get("author") if isinstance(message.get("author"), dict) else {}
        role = author.get("role")
        metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
        content = message.get("content")
        if not isinstance(content, dict):
            return
        # Times are kept in order: ChatGPT's are sometimes out of it, or missing.
        when = _iso(message.get("create_time"))
        if when is None or (self.last_time and when < self.last_time):
            when = self.last_time
        self.last_time = when
        if content.get("content_type") == "user_editable_context":
            self.left_out[_("custom instructions")] += 1
        elif metadata.get("is_visually_hidden_from_conversation"):
            return
        elif role == "user":
            self.user(message, when)
        elif role == "assistant":
            self.assistant(message, when)
        elif role == "tool":
            self.tool(message, when)
        elif role == "system":
            self.system(message)


def convert(raw: dict, find_file: Callable[[str], str | None] | None = None) -> Converted:
    """One conversation of ChatGPT's export as a chatsite document (not yet checked: validate.py
    checks it like any other). find_file(asset id) names the export's file for an asset, if given."""
    source_id = _strings(raw.get("conversation_id")) or _strings(raw.get("id"))
    title = _strings(raw.get("title")) or _("Imported chat")
    try:
        path, others = branch(raw)
    except _Skip as skip:
        return Converted(None, source_id, title, skipped=str(skip))
    builder = _Builder(find_file)
    for node in path:
        if isinstance(node.get("message"), dict):
            builder.add(node["message"])
    messages = [
        m for m in builder.messages if m["role"] == "user" or m["text"].strip() or m["tool_calls"] or m.get("reasoning")
    ]
    if not messages:
        return Converted(None, source_id, title, skipped=_("it has no messages."))
    notes = []
    if others:
        notes.append(
            ngettext(
                "%(count)s message on another branch (an earlier edit or regeneration) was left out.",
                "%(count)s messages on other branches (earlier edits or regenerations) were left out.",
                others,
            )
            % {"count": others}
        )
    if builder.missing_files:
        notes.append(
            ngettext(
                "%(count)s image or file was not in the upload (upload the export's .zip to bring them).",
                "%(count)s images or files were not in the upload (upload the export's .zip to bring them).",
                builder.missing_files,
            )
            % {"count": builder.missing_files}
        )
    for kind, count in sorted(builder.left_out.items()):
        notes.append(_("Left out: %(what)s (%(count)s).") % {"what": kind, "count": count})
    model = _strings(raw.get("default_model_slug"))
    document = {
        "format": FORMAT,
        "version": VERSION,
        "conversation": {
            "id": source_id,
            "title": title,
            "created": _iso(raw.get("create_time")),
            "updated": _iso(raw.get("update_time")),
            "archived": raw.get("is_archived") is True,
            "model": {"name": model, "provider": PROVIDER} if model else None,
            "system_prompt": builder.system_prompt,
        },
        "messages": messages,
    }
    return Converted(document, source_id, title, notes=notes)
