"""The JSON shapes of conversations and messages, shared by pages and websocket frames."""

from typing import TYPE_CHECKING

from django.urls import reverse

from chatsite.chat import events
from chatsite.chat.models import Attachment, Conversation, Message, Preset

if TYPE_CHECKING:
    from chatsite.chat.turns import Turn


def attachment_payload(attachment: Attachment) -> dict:
    return {
        "id": str(attachment.code),
        "url": reverse("chat:attachment", args=[attachment.code]),
        "name": attachment.original_name,
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "width": attachment.width,
        "height": attachment.height,
    }


def message_payload(message: Message, attachments: list[Attachment] | None = None) -> dict:
    if attachments is None:
        attachments = list(message.attachments.all())
    return {
        "id": str(message.code),
        "role": message.role,
        "text": message.text,
        "reasoning": message.reasoning,
        "refusal": message.refusal,
        "status": message.status,
        "finish_reason": message.finish_reason,
        "model": message.model_name,
        "error": message.error,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "total_tokens": message.total_tokens,
        "reasoning_tokens": message.reasoning_tokens,
        "cached_tokens": message.cached_tokens,
        "context_tokens": message.context_tokens,
        "usage_estimated": message.usage_estimated,
        "json_check": message.json_check,
        "tool_calls": message.tool_calls,
        "citations": message.citations or [],
        "logprobs": message.logprobs or [],
        "first_token_ms": message.first_token_ms,
        "duration_ms": message.duration_ms,
        "attachments": [attachment_payload(a) for a in attachments],
        "created": message.created.isoformat() if message.created else None,
    }


def conversation_payload(conversation: Conversation) -> dict:
    model = conversation.model
    return {
        "id": str(conversation.code),
        "title": conversation.title,
        "model": str(model.code) if model else None,
        # The owner's own settings (this payload only ever goes to the owner's pages and sockets).
        "system_prompt": conversation.system_prompt,
        "parameters": conversation.parameters,
        "tools": conversation.tools,
        "updated": conversation.updated.isoformat() if conversation.updated else None,
    }


def turn_event(turn: "Turn") -> dict:
    """The group event that shows a new turn in every tab: its truncation, new messages and
    title, in order, as one (one publish through Redis, not one each)."""
    conversation = str(turn.conversation.code)
    frames = []
    if turn.truncated:
        after = str(turn.truncated_after.code) if turn.truncated_after else None
        frames.append({"type": events.TRUNCATED, "conversation": conversation, "after": after})
    for message in turn.added:
        # The answer has no attachments yet; a new question's are known: no query for either.
        attachments = [] if message is turn.answer else getattr(message, "known_attachments", None)
        payload = message_payload(message, attachments)
        frames.append({"type": events.MESSAGE, "conversation": conversation, "message": payload})
    frames.append({"type": events.CONVERSATION, "conversation": conversation_payload(turn.conversation)})
    return {"type": events.TURN, "conversation": conversation, "events": frames}


def preset_payload(preset: Preset, allowed: set[int]) -> dict:
    """A preset as a user sees it: its model only when they may use it (allowed: model ids)."""
    model = preset.model
    return {
        "id": preset.pk,
        "name": preset.name,
        "system_prompt": preset.system_prompt,
        "parameters": preset.parameters,
        # A preset whose model has gone (or is hidden, or not for this user) keeps its prompt
        # and parameters.
        "model": str(model.code) if model and model.pk in allowed else None,
    }
