"""The JSON shapes of conversations and messages, shared by pages and websocket frames."""

from django.urls import reverse

from chatsite.chat.models import Attachment, Conversation, Message


def attachment_payload(attachment: Attachment) -> dict:
    return {
        "id": str(attachment.code),
        "url": reverse("chat:attachment", args=[attachment.code]),
        "name": attachment.original_name,
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
        "status": message.status,
        "finish_reason": message.finish_reason,
        "model": message.model_name,
        "error": message.error,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "total_tokens": message.total_tokens,
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
        "updated": conversation.updated.isoformat() if conversation.updated else None,
    }
