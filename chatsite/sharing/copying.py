"""Continue as my own copy: a shared snapshot written as the reader's own conversation, through
the same checks and writer as an import (chatsite/transfer), its files copied to the reader."""

from django.core.files.base import ContentFile
from django.db import transaction

from chatsite.chat.models import Attachment, Conversation
from chatsite.sharing.models import Share
from chatsite.transfer.validate import clean_document
from chatsite.transfer.writing import write_conversation


def _copy_file(original: Attachment, reader) -> Attachment:
    copy = Attachment(
        owner=reader,
        kind=original.kind,
        content_type=original.content_type,
        original_name=original.original_name,
        width=original.width,
        height=original.height,
        size_bytes=original.size_bytes,
        text=original.text,
    )
    with original.file.open("rb") as source:
        copy.file.save(str(copy.code), ContentFile(source.read()), save=False)
    return copy


def copy_share(reader, share: Share) -> Conversation:
    document = clean_document(share.snapshot)
    wanted = {a["id"] for m in document["messages"] for a in m["attachments"]}
    originals = {
        str(a.code): a
        for a in Attachment.objects.filter(
            owner_id=share.owner_id, message__conversation_id=share.conversation_id, code__in=list(wanted)
        )
    }
    copies: dict[int, list[Attachment]] = {}
    made: list[Attachment] = []
    try:
        for index, message in enumerate(document["messages"]):
            for entry in message["attachments"]:
                original = originals.get(entry["id"])
                if original is None:
                    continue  # gone since it was shared (the message was edited away)
                copy = _copy_file(original, reader)
                made.append(copy)
                copies.setdefault(index, []).append(copy)
        with transaction.atomic():
            return write_conversation(reader, document, copies, keep_dates=False)
    except BaseException:
        for copy in made:
            copy.file.delete(save=False)
        raise
