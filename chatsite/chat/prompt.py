"""Turns a conversation's history into the Chat Completions `messages` list."""

import base64

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.tools.calls import messages_for


def image_part(attachment: Attachment) -> dict:
    # Only our own re-encoded files, as data: URLs: no URL from a user is ever fetched.
    with attachment.file.open("rb") as f:
        encoded = base64.b64encode(f.read()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{attachment.content_type};base64,{encoded}"}}


def build_messages(
    conversation: Conversation, history: list[Message], system_role: str = "system", *, tools: bool = False
) -> list[dict]:
    """The system prompt (in system_role: "developer" for models that want it) and the history,
    oldest first (user messages' attachments prefetched, or given as known_attachments for a
    message just written). Answers that used tools carry their calls and results when the
    request has tools; without tools only their text goes (a tool message with no tools
    defined is refused by some providers)."""
    messages: list[dict] = []
    if conversation.system_prompt.strip():
        messages.append({"role": system_role, "content": conversation.system_prompt})
    for message in history:
        if message.role == Message.Role.USER:
            attachments = getattr(message, "known_attachments", None)
            if attachments is None:
                attachments = list(message.attachments.all())
            if attachments:
                parts: list[dict] = [{"type": "text", "text": message.text}] if message.text else []
                parts += [image_part(a) for a in attachments]
                messages.append({"role": "user", "content": parts})
            else:
                messages.append({"role": "user", "content": message.text})
        elif tools and message.tool_calls:
            messages += messages_for(message.text, message.tool_calls)
        elif message.text:
            # A stopped or failed answer still went out to the user: keep what they saw.
            messages.append({"role": "assistant", "content": message.text})
    return messages
