"""chatsite's own JSON for a conversation (docs/export-format.md): what an export writes, what an
import reads back, and what a shared link keeps as its snapshot.

Version 1. A reader takes any document of its major version and ignores keys it does not know;
a change that old readers would misread gets a new version.
"""

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from chatsite.chat.models import Attachment, Conversation, Message

FORMAT = "chatsite-conversation"
ARCHIVE_FORMAT = "chatsite-archive"
VERSION = 1

# The usage counts a message carries, as stored.
USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "reasoning_tokens", "cached_tokens")
# The keys a stored tool call has (chatsite/tools/calls.py).
TOOL_CALL_FIELDS = ("id", "name", "arguments", "round", "at", "status", "result", "ms")


def attachment_path(attachment: Attachment) -> str:
    """Where an archive keeps the attachment's bytes (our own name, never the user's)."""
    return f"attachments/{attachment.code}.{attachment.extension}"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def attachment_document(attachment: Attachment, *, with_file: bool) -> dict:
    entry = {
        "id": str(attachment.code),
        "name": attachment.original_name,
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "width": attachment.width,
        "height": attachment.height,
    }
    # A PDF's extracted text is what models that read no files get: kept, so an import need not
    # read the PDF again. A text file's text is the file itself.
    if attachment.kind == Attachment.Kind.PDF and attachment.text:
        entry["text"] = attachment.text
    if with_file:
        entry["file"] = attachment_path(attachment)
    return entry


def message_document(message: Message, *, with_files: bool) -> dict:
    entry = {
        "id": str(message.code),
        "role": message.role,
        "created": _time(message.created),
        "text": message.text,
    }
    if message.role == Message.Role.ASSISTANT:
        entry.update(
            model=message.model_name,
            provider=message.provider_name,
            status=message.status,
            finish_reason=message.finish_reason,
            reasoning=message.reasoning,
            refusal=message.refusal,
            error=message.error,
            usage={
                **{name: getattr(message, name) for name in USAGE_FIELDS},
                "estimated": message.usage_estimated,
            },
            tool_calls=[{key: call.get(key) for key in TOOL_CALL_FIELDS} for call in message.tool_calls or []],
            citations=list(message.citations or []),
        )
    attachments = list(message.attachments.all())
    if attachments:
        entry["attachments"] = [attachment_document(a, with_file=with_files) for a in attachments]
    return entry


def messages_of(conversation: Conversation) -> Iterable[Message]:
    """The conversation's messages in order, with their attachments (two queries)."""
    return conversation.messages.order_by("pk").prefetch_related("attachments")


def conversation_document(
    conversation: Conversation,
    messages: Iterable[Message] | None = None,
    *,
    with_files: bool = False,
    finished_only: bool = False,
    exported: datetime | None = None,
) -> dict:
    """The conversation as chatsite's JSON. with_files: attachments name their file in an archive;
    finished_only: an answer still streaming is left out (a snapshot keeps what is written)."""
    model = conversation.model
    if messages is None:
        messages = messages_of(conversation)
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported": _time(exported or timezone.now()),
        "conversation": {
            "id": str(conversation.code),
            "title": conversation.title,
            "created": _time(conversation.created),
            "updated": _time(conversation.updated),
            "archived": conversation.archived_at is not None,
            "model": {"name": model.name, "provider": model.provider.name} if model else None,
            "system_prompt": conversation.system_prompt,
            "parameters": conversation.parameters or {},
            "tools": list(conversation.tools or []),
        },
        "messages": [
            message_document(message, with_files=with_files)
            for message in messages
            if not (finished_only and message.status == Message.Status.STREAMING)
        ],
    }


def attachments_in(document: dict) -> list[dict]:
    """Every attachment entry of a document's messages."""
    return [a for m in document.get("messages", []) for a in m.get("attachments", []) if isinstance(a, dict)]
