"""Importing a file into one user's conversations, all of it or none of it.

Two passes, so that a bad file changes nothing and a big one holds the database's write lock
only while rows are written: first every conversation is read, checked and set aside in a
temporary file (its attachments' files checked as uploads are, and stored); then, in one
transaction, the rows are written. A refusal in either pass removes the stored files again.
"""

import json
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chatsite.chat.files import read_file
from chatsite.chat.images import UploadRejected
from chatsite.chat.models import Attachment, Conversation
from chatsite.transfer.errors import ImportRefused
from chatsite.transfer.models import ImportedConversation
from chatsite.transfer.reading import Item, Source
from chatsite.transfer.writing import write_conversation


@dataclass
class Entry:
    title: str
    reason: str = ""  # why it was skipped
    url: str = ""
    messages: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    imported: list[Entry] = field(default_factory=list)
    skipped: list[Entry] = field(default_factory=list)


class _Files:
    """Attachment files stored during an import, removed again if it fails."""

    def __init__(self) -> None:
        self.stored: list[Attachment] = []

    def store(self, attachment: Attachment, data: bytes) -> None:
        attachment.file.save(str(attachment.code), ContentFile(data), save=False)
        self.stored.append(attachment)

    def remove(self) -> None:
        for attachment in self.stored:
            attachment.file.delete(save=False)


def _already(user, item: Item, seen: set[tuple[str, str]]) -> str:
    """Why the item is already here, or ""."""
    key = (item.source, item.source_id)
    if not item.source_id:
        return ""
    if key in seen:
        return _("it is in the file twice.")
    seen.add(key)
    if item.source == "chatsite" and Conversation.objects.for_user(user).filter(code=_uuid(item.source_id)).exists():
        return _("it is one of your conversations already.")
    found = (
        ImportedConversation.objects.filter(owner=user, source=item.source, source_id=item.source_id[:100])
        .select_related("conversation")
        .first()
    )
    if found:
        return _("it was imported before (as “%(title)s”).") % {"title": found.conversation.title}
    return ""


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _prepare_attachments(user, source: Source, item: Item, files: _Files) -> dict[int, list[Attachment]]:
    """The checked attachments of each message of the item (by message index), their files
    stored; a file that is missing or not taken is left out with a note."""
    prepared: dict[int, list[Attachment]] = {}
    missing, refused = 0, []
    for index, message in enumerate(item.document["messages"]):
        for entry in message["attachments"]:
            data = source.read_file(entry["file"], settings.CHAT_MAX_UPLOAD_BYTES) if entry["file"] else None
            if data is None:
                missing += 1
                continue
            try:
                attachment, data = read_file(data, entry["name"] or entry["file"].rsplit("/", 1)[-1], user)
            except UploadRejected as error:
                refused.append(f"{entry['name']}: {error.message}")
                continue
            files.store(attachment, data)
            prepared.setdefault(index, []).append(attachment)
    if missing and item.source == "chatsite":
        item.notes.append(
            ngettext(
                "%(count)s attached file was not in the file (export all your data to bring it).",
                "%(count)s attached files were not in the file (export all your data to bring them).",
                missing,
            )
            % {"count": missing}
        )
    for reason in refused:
        item.notes.append(_("An attachment was left out: %(reason)s") % {"reason": reason})
    return prepared


def import_file(user, stream: BinaryIO) -> Report:
    """Import every conversation the file holds for user; ImportRefused (nothing changed) when
    the file, or anything in it, is not taken."""
    report = Report()
    files = _Files()
    seen: set[tuple[str, str]] = set()
    found = 0
    # The attachments of each spooled conversation, in spool order (unsaved rows, files stored).
    attachments: list[dict[int, list[Attachment]]] = []
    try:
        with tempfile.TemporaryFile() as spool:
            source = Source(stream)
            for item in source.items():
                found += 1
                reason = item.skipped or _already(user, item, seen)
                if not reason and not item.document["messages"]:
                    reason = _("it has no messages.")
                if reason:
                    report.skipped.append(Entry(item.title, reason=reason))
                    continue
                attachments.append(_prepare_attachments(user, source, item, files))
                spooled = {"source": [item.source, item.source_id], "notes": item.notes, "document": item.document}
                spool.write(json.dumps(spooled, ensure_ascii=False).encode() + b"\n")
            if not found:
                raise ImportRefused(_("The file holds no conversations."))
            spool.seek(0)
            with transaction.atomic():
                for line, prepared in zip(spool, attachments, strict=True):
                    spooled = json.loads(line)
                    (source_name, source_id), document = spooled["source"], spooled["document"]
                    conversation = write_conversation(user, document, prepared)
                    if source_id:
                        ImportedConversation.objects.create(
                            owner=user, conversation=conversation, source=source_name, source_id=source_id[:100]
                        )
                    report.imported.append(
                        Entry(
                            conversation.title,
                            url=reverse("chat:conversation", args=[conversation.code]),
                            messages=len(document["messages"]),
                            notes=spooled["notes"],
                        )
                    )
    except BaseException:
        files.remove()
        raise
    return report
