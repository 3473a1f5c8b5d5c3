"""All of one user's data as one zip, written as it is sent: every conversation as chatsite JSON
and as Markdown, every attachment's file, and a manifest (docs/export-format.md).

The zip goes out in pieces of about CHUNK_BYTES while it is being written (zipfile writes to a
stream it cannot seek with data descriptors), so memory holds one conversation and one piece of
a file at a time, whatever the size of the history.
"""

import io
import json
import zipfile
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

from asgiref.sync import sync_to_async
from django.utils import timezone, translation

from chatsite.chat.models import Conversation
from chatsite.transfer.document import (
    ARCHIVE_FORMAT,
    VERSION,
    attachment_path,
    conversation_document,
    messages_of,
)
from chatsite.transfer.markdown import conversation_markdown
from chatsite.transfer.names import safe_filename

CHUNK_BYTES = 256 * 1024
MANIFEST = "manifest.json"


class _Pipe(io.RawIOBase):
    """What zipfile writes to: kept until taken, never seekable."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.pieces.append(bytes(data))
        self.size += len(data)
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        self.size = 0
        return data


def entry_stem(conversation: Conversation) -> str:
    """conversations/<day> <title> <short id>: readable, sorted by date, never two alike."""
    day = timezone.localtime(conversation.created, timezone.get_fixed_timezone(0)).strftime("%Y-%m-%d")
    name = safe_filename(f"{day} {conversation.title} {str(conversation.code)[:8]}", "x")
    return "conversations/" + name[: -len(".x")]


def _zip_time(moment: datetime | None) -> tuple[int, int, int, int, int, int]:
    moment = moment or timezone.now()
    moment = timezone.localtime(moment, timezone.get_fixed_timezone(0))
    return max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second


def archive_chunks(user, zone: zoneinfo.ZoneInfo) -> Iterator[bytes]:
    """The zip of everything `user` owns, piece by piece (synchronous: database and files)."""
    pipe = _Pipe()
    exported = timezone.now()
    listed = []
    attachments = 0
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:

        def put(name: str, data: bytes, when: datetime | None) -> Iterator[bytes]:
            info = zipfile.ZipInfo(name, date_time=_zip_time(when))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            if pipe.size >= CHUNK_BYTES:
                yield pipe.take()

        # Ids first (one small query), then each conversation on its own: never all at once.
        codes = list(Conversation.objects.for_user(user).order_by("created", "pk").values_list("pk", flat=True))
        for pk in codes:
            conversation = Conversation.objects.for_user(user).select_related("model__provider").filter(pk=pk).first()
            if conversation is None:  # deleted meanwhile
                continue
            messages = list(messages_of(conversation))
            document = conversation_document(conversation, messages, with_files=True, exported=exported)
            stem = entry_stem(conversation)
            yield from put(f"{stem}.json", _json(document), conversation.updated)
            yield from put(f"{stem}.md", conversation_markdown(document, zone).encode(), conversation.updated)
            for message in messages:
                for attachment in message.attachments.all():
                    yield from _put_file(archive, pipe, attachment)
                    attachments += 1
            listed.append(
                {
                    "id": str(conversation.code),
                    "title": conversation.title,
                    "json": f"{stem}.json",
                    "markdown": f"{stem}.md",
                    "messages": len(messages),
                }
            )
        manifest = {
            "format": ARCHIVE_FORMAT,
            "version": VERSION,
            "exported": exported.isoformat(),
            "user": user.get_username(),
            "conversations": listed,
            "attachments": attachments,
        }
        yield from put(MANIFEST, _json(manifest), exported)
    yield pipe.take()


def _put_file(archive: zipfile.ZipFile, pipe: _Pipe, attachment) -> Iterator[bytes]:
    info = zipfile.ZipInfo(attachment_path(attachment), date_time=_zip_time(attachment.created))
    info.compress_type = zipfile.ZIP_DEFLATED
    try:
        source = attachment.file.open("rb")
    except (FileNotFoundError, ValueError):
        return  # its file is gone (removed by hand): the JSON still names it
    # Level 1: images, PDFs and MP3s are compressed already; text still shrinks.
    with source, archive.open(info, "w", force_zip64=True) as target:
        while block := source.read(CHUNK_BYTES):
            target.write(block)
            if pipe.size >= CHUNK_BYTES:
                yield pipe.take()


def _json(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()


async def stream_archive(user, zone: zoneinfo.ZoneInfo) -> AsyncIterator[bytes]:
    """archive_chunks for an ASGI response: each piece made in the request's database thread.

    (Django would read a synchronous iterator whole into memory before serving it over ASGI.)"""
    language = translation.get_language()

    pieces = archive_chunks(user, zone)

    def next_piece() -> bytes | None:
        with translation.override(language):
            return next(pieces, None)

    step = sync_to_async(next_piece, thread_sensitive=True)
    try:
        while (piece := await step()) is not None:
            if piece:
                yield piece
    finally:
        await sync_to_async(pieces.close, thread_sensitive=True)()
