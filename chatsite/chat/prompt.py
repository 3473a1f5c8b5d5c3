"""Turns a conversation's history into the Chat Completions `messages` list."""

import base64
from html import escape

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.tools.calls import messages_for

# What a model is told about an attachment it cannot take (one sent before a switch of model).
LEFT_OUT = "[{name}: {what} left out; this model does not take {plural}.]"


def _base64(attachment: Attachment) -> str:
    with attachment.file.open("rb") as f:
        return base64.b64encode(f.read()).decode("ascii")


def image_part(attachment: Attachment) -> dict:
    # Only our own re-encoded files, as data: URLs: no URL from a user is ever fetched.
    return {"type": "image_url", "image_url": {"url": f"data:{attachment.content_type};base64,{_base64(attachment)}"}}


def text_file_part(attachment: Attachment) -> dict:
    """A file's text, for any model: marked out so the model tells it from the question."""
    text = attachment.text if attachment.text.strip() else "(no text could be extracted from this file)"
    # The name is the user's: quoted so it cannot close the tag or forge another.
    name = escape(attachment.original_name)
    return {"type": "text", "text": f'<file name="{name}">\n{text}\n</file>'}


def attachment_part(attachment: Attachment, abilities: dict | None) -> dict:
    """The content part for an attachment, as far as the model takes it (abilities None: all)."""
    can = (lambda ability: True) if abilities is None else (lambda ability: abilities.get(ability, False))
    kind, name = attachment.kind, attachment.original_name or "a file"
    if kind == Attachment.Kind.IMAGE:
        if can("vision"):
            return image_part(attachment)
        return {"type": "text", "text": LEFT_OUT.format(name=name, what="an image", plural="images")}
    if kind == Attachment.Kind.AUDIO:
        if can("audio"):
            audio_format = "wav" if attachment.content_type == "audio/wav" else "mp3"
            return {"type": "input_audio", "input_audio": {"data": _base64(attachment), "format": audio_format}}
        return {"type": "text", "text": LEFT_OUT.format(name=name, what="a recording", plural="audio")}
    if kind == Attachment.Kind.PDF and can("files"):
        data = f"data:application/pdf;base64,{_base64(attachment)}"
        return {"type": "file", "file": {"filename": name, "file_data": data}}
    return text_file_part(attachment)  # plain text always; a PDF for a model that reads no files


def build_messages(
    conversation: Conversation,
    history: list[Message],
    system_role: str = "system",
    abilities: dict | None = None,
    *,
    tools: bool = False,
) -> list[dict]:
    """The system prompt (in system_role: "developer" for models that want it) and the history,
    oldest first (user messages' attachments prefetched, or given as known_attachments for a
    message just written), each attachment as far as a model with these abilities takes it.
    Answers that used tools carry their calls and results when the request has tools; without
    tools only their text goes (a tool message with no tools defined is refused by some
    providers)."""
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
                parts += [attachment_part(a, abilities) for a in attachments]
                messages.append({"role": "user", "content": parts})
            else:
                messages.append({"role": "user", "content": message.text})
        elif tools and message.tool_calls:
            messages += messages_for(message.text, message.tool_calls)
        elif message.text:
            # A stopped or failed answer still went out to the user: keep what they saw.
            messages.append({"role": "assistant", "content": message.text})
    return messages
