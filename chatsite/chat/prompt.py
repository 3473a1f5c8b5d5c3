"""Turns a conversation's history into the Chat Completions `messages` list.

Files are read and base64-encoded here, so this runs off the database thread (request.py).
Every turn sends the whole history, files included; CHAT_MAX_REQUEST_FILE_BYTES bounds the file
bytes one request carries, newest first: older files beyond it go as their extracted text (a
PDF) or as a short note (an image, a recording), so a long history of large files cannot make
every turn hundreds of megabytes.
"""

import base64
import logging
from html import escape

from django.conf import settings

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.tools.calls import messages_for

log = logging.getLogger(__name__)

# What a model is told about an attachment it cannot take (one sent before a switch of model).
LEFT_OUT = "[{name}: {what} left out; this model does not take {plural}.]"
NOT_RESENT = "[{name}: {what} sent earlier, not sent again (the file limit of one request).]"
MISSING = "[{name}: {what} no longer stored on the server.]"
WHAT = {Attachment.Kind.IMAGE: "an image", Attachment.Kind.AUDIO: "a recording", Attachment.Kind.PDF: "a PDF"}


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


def _note(template: str, attachment: Attachment) -> dict:
    name = attachment.original_name or "a file"
    return {"type": "text", "text": template.format(name=name, what=WHAT.get(attachment.kind, "a file"))}


def _sent_whole(attachment: Attachment, abilities: dict | None) -> bool:
    """Whether the model gets this file's bytes (not its text or a note)."""
    can = (lambda ability: True) if abilities is None else (lambda ability: abilities.get(ability, False))
    kind = attachment.kind
    return (
        (kind == Attachment.Kind.IMAGE and can("vision"))
        or (kind == Attachment.Kind.AUDIO and can("audio"))
        or (kind == Attachment.Kind.PDF and can("files"))
    )


def attachment_part(attachment: Attachment, abilities: dict | None, *, whole: bool = True) -> dict:
    """The content part for an attachment, as far as the model takes it (abilities None: all);
    whole=False: its bytes are over the request's file limit."""
    kind, name = attachment.kind, attachment.original_name or "a file"
    if not _sent_whole(attachment, abilities):
        if kind == Attachment.Kind.IMAGE:
            return {"type": "text", "text": LEFT_OUT.format(name=name, what="an image", plural="images")}
        if kind == Attachment.Kind.AUDIO:
            return {"type": "text", "text": LEFT_OUT.format(name=name, what="a recording", plural="audio")}
        return text_file_part(attachment)  # plain text always; a PDF for a model that reads no files
    if not whole:
        return text_file_part(attachment) if kind == Attachment.Kind.PDF else _note(NOT_RESENT, attachment)
    try:
        if kind == Attachment.Kind.IMAGE:
            return image_part(attachment)
        if kind == Attachment.Kind.AUDIO:
            audio_format = "wav" if attachment.content_type == "audio/wav" else "mp3"
            return {"type": "input_audio", "input_audio": {"data": _base64(attachment), "format": audio_format}}
        data = f"data:application/pdf;base64,{_base64(attachment)}"
        return {"type": "file", "file": {"filename": name, "file_data": data}}
    except FileNotFoundError:
        # Deleted from disk (a restore without uploads, a clean-up): the turn goes on without it.
        log.warning("attachment %s is missing from storage", attachment.code)
        return text_file_part(attachment) if kind == Attachment.Kind.PDF else _note(MISSING, attachment)


def file_bytes(attachments: list[Attachment], abilities: dict | None) -> int:
    """The bytes of these attachments a model with these abilities gets whole."""
    return sum(attachment.size_bytes for attachment in attachments if _sent_whole(attachment, abilities))


def _attachments(message: Message) -> list[Attachment]:
    attachments = getattr(message, "known_attachments", None)
    return list(message.attachments.all()) if attachments is None else attachments


def _whole_files(history: list[Message], abilities: dict | None) -> set[int]:
    """The attachments whose bytes go in this request: the newest first, while they fit."""
    room = settings.CHAT_MAX_REQUEST_FILE_BYTES
    whole: set[int] = set()
    for message in reversed(history):
        if message.role != Message.Role.USER:
            continue
        for attachment in _attachments(message):
            if _sent_whole(attachment, abilities) and attachment.size_bytes <= room:
                room -= attachment.size_bytes
                whole.add(id(attachment))
    return whole


def build_messages(
    conversation: Conversation,
    history: list[Message],
    abilities: dict | None = None,
    *,
    tools: bool = False,
) -> list[dict]:
    """The system prompt and the history, oldest first (user messages' attachments prefetched,
    or given as known_attachments for a message just written), each attachment as far as a
    model with these abilities takes it and the request's file limit allows. Answers that used
    tools carry their calls and results when the request has tools; without tools only their
    text goes (a tool message with no tools defined is refused by some providers)."""
    messages: list[dict] = []
    if conversation.system_prompt.strip():
        messages.append({"role": "system", "content": conversation.system_prompt})
    whole = _whole_files(history, abilities)
    for message in history:
        if message.role == Message.Role.USER:
            attachments = _attachments(message)
            if attachments:
                parts: list[dict] = [{"type": "text", "text": message.text}] if message.text else []
                parts += [attachment_part(a, abilities, whole=id(a) in whole) for a in attachments]
                messages.append({"role": "user", "content": parts})
            else:
                messages.append({"role": "user", "content": message.text})
        elif tools and message.tool_calls:
            messages += messages_for(message.text, message.tool_calls)
        elif message.text:
            # A stopped or failed answer still went out to the user: keep what they saw.
            messages.append({"role": "assistant", "content": message.text})
    return messages


def reads_files(history: list[Message], abilities: dict | None) -> bool:
    """Whether building the messages reads any file from storage."""
    return any(
        _sent_whole(attachment, abilities)
        for message in history
        if message.role == Message.Role.USER
        for attachment in _attachments(message)
    )
