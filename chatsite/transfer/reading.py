"""What an uploaded file holds, conversation by conversation: told apart by its bytes (a zip or
JSON), then by its shape (ChatGPT's export, chatsite's conversation or archive).

A zip is checked whole before anything in it is read: its entry count, the sizes it declares
(a zip bomb declares far more than it may unpack to, and zipfile never unpacks more than an
entry declares) and its names (absolute paths, `..`, drive letters and backslashes refuse it,
though nothing is ever written under an entry's name). Nothing is extracted to disk.
"""

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings
from django.utils.translation import gettext as _

from chatsite.transfer import chatgpt, jsonread
from chatsite.transfer.document import ARCHIVE_FORMAT, FORMAT, VERSION
from chatsite.transfer.errors import ImportRefused
from chatsite.transfer.validate import check_format, clean_document

MAX_ENTRIES = 100_000
MANIFEST = "manifest.json"
# ChatGPT's export: conversations.json, or in newer exports conversations-000.json, -001…
CHATGPT_FILES = re.compile(r"^(?:[^/]+/)?conversations(?:-\d+)?\.json$")
ARCHIVE_FILE = re.compile(r"^attachments/[0-9a-f-]{36}\.[a-z0-9]{2,4}$")


@dataclass
class Item:
    """One conversation found in the file: its cleaned document, or why it is skipped."""

    source: str  # "chatgpt" or "chatsite"
    source_id: str
    title: str
    document: dict | None = None
    skipped: str = ""
    notes: list[str] = field(default_factory=list)


def wrong_kind() -> ImportRefused:
    return ImportRefused(
        _(
            "chatsite cannot import that file. It takes ChatGPT's data export (conversations.json, "
            "or the .zip it came in) and chatsite's own export (a conversation's .json, or the .zip of all your data)."
        )
    )


def _max_unzipped() -> int:
    # JSON packs about tenfold; more than that is not an export.
    return 10 * settings.IMPORT_MAX_BYTES


def _unsafe(name: str) -> bool:
    return (
        name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or re.match(r"^[A-Za-z]:", name) is not None
        or ".." in name.split("/")
    )


class Source:
    """An uploaded file opened for reading: items() yields its conversations (each checked),
    read_file(entry) the bytes of a file it carries (zips only)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.zip: zipfile.ZipFile | None = None
        head = stream.read(4096)
        stream.seek(0)
        if head.startswith(b"PK"):
            self._open_zip()
        elif head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] not in (b"[", b"{"):
            raise wrong_kind()

    def _open_zip(self) -> None:
        try:
            archive = zipfile.ZipFile(self.stream)
            entries = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
            raise ImportRefused(_("The zip file is damaged.")) from None
        if len(entries) > MAX_ENTRIES:
            raise ImportRefused(_("The zip file holds more than %(count)s files.") % {"count": f"{MAX_ENTRIES:,}"})
        declared = 0
        for entry in entries:
            if _unsafe(entry.filename):
                raise ImportRefused(
                    _("The zip file names a file outside itself (%(name)s), so it is not taken.")
                    % {"name": entry.filename[:100]}
                )
            if entry.flag_bits & 0x1:
                raise ImportRefused(_("The zip file is encrypted."))
            if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ImportRefused(_("The zip file is packed in a way chatsite does not read."))
            declared += entry.file_size
        if declared > _max_unzipped():
            raise ImportRefused(
                _("The zip file would unpack to more than %(size)s, so it is not taken.")
                % {"size": f"{_max_unzipped() // (1024 * 1024):,} MB"}
            )
        self.zip = archive
        self.names = {entry.filename for entry in entries if not entry.is_dir()}

    def read_file(self, name: str, limit: int) -> bytes | None:
        """The bytes of one entry of the zip, or None when it has none by that name or it is
        larger than limit."""
        if self.zip is None or name not in self.names:
            return None
        try:
            if self.zip.getinfo(name).file_size > limit:
                return None
            with self.zip.open(name) as entry:
                return entry.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise ImportRefused(_("The zip file is damaged.")) from None

    def _open_entry(self, name: str) -> BinaryIO:
        assert self.zip is not None
        try:
            return self.zip.open(name)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise ImportRefused(_("The zip file is damaged.")) from None

    def items(self) -> Iterator[Item]:
        if self.zip is None:
            yield from self._json_items(self.stream, chatgpt_files=None)
        elif MANIFEST in self.names:
            yield from self._archive_items()
        else:
            found = sorted(name for name in self.names if CHATGPT_FILES.match(name))
            if not found:
                raise wrong_kind()
            files = _ChatGPTFiles(self.names)
            for name in found:
                with self._open_entry(name) as entry:
                    yield from self._json_items(entry, chatgpt_files=files, must_be_chatgpt=True)

    def _json_items(self, stream: BinaryIO, *, chatgpt_files, must_be_chatgpt: bool = False) -> Iterator[Item]:
        first = True
        for value in jsonread.values(stream, max_item_bytes=settings.IMPORT_MAX_BYTES):
            if chatgpt.looks_like(value):
                yield _chatgpt_item(value, chatgpt_files)
            elif first and not must_be_chatgpt and isinstance(value, dict) and "format" in value:
                if value.get("format") == ARCHIVE_FORMAT:
                    raise ImportRefused(_("That is the manifest of an archive: import the whole .zip."))
                yield _chatsite_item(value)
            else:
                raise wrong_kind()
            first = False

    def _archive_items(self) -> Iterator[Item]:
        with self._open_entry(MANIFEST) as entry:
            manifest = next(jsonread.values(entry, max_item_bytes=settings.IMPORT_MAX_BYTES), None)
        if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
            raise wrong_kind()
        version = manifest.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
            raise ImportRefused(
                _("The archive was written by another version of chatsite (format %(version)s).")
                % {"version": str(version)[:20]}
            )
        listed = manifest.get("conversations")
        if not isinstance(listed, list):
            raise wrong_kind()
        for entry in listed:
            name = entry.get("json") if isinstance(entry, dict) else None
            if not isinstance(name, str) or name not in self.names:
                raise ImportRefused(_("The archive's manifest names a conversation the archive does not hold."))
            with self._open_entry(name) as stream:
                values = list(jsonread.values(stream, max_item_bytes=settings.IMPORT_MAX_BYTES))
            if len(values) != 1 or not isinstance(values[0], dict) or values[0].get("format") != FORMAT:
                raise ImportRefused(_("%(name)s in the archive is not a chatsite conversation.") % {"name": name[:200]})
            yield _chatsite_item(values[0], archive=True)


class _ChatGPTFiles:
    """Finds the file ChatGPT's export zip holds for an asset id: named after it, anywhere."""

    def __init__(self, names: set[str]) -> None:
        self.by_id: dict[str, str] = {}
        for name in sorted(names):
            base = posixpath.basename(name)
            match = re.match(r"^(file[-_][A-Za-z0-9]+)", base)
            if match:
                self.by_id.setdefault(match.group(1), name)

    def __call__(self, asset_id: str) -> str | None:
        return self.by_id.get(asset_id)


def _chatgpt_item(raw: dict, files: _ChatGPTFiles | None) -> Item:
    converted = chatgpt.convert(raw, files)
    item = Item("chatgpt", converted.source_id, converted.title, skipped=converted.skipped, notes=converted.notes)
    if converted.document is not None:
        item.document = clean_document(converted.document)
        item.title = item.document["conversation"]["title"]
    return item


def _chatsite_item(raw: dict, *, archive: bool = False) -> Item:
    check_format(raw)
    document = clean_document(raw)
    conversation = document["conversation"]
    item = Item("chatsite", conversation["id"], conversation["title"], document=document)
    if not archive:
        # Attachment files travel only in the archive; a lone conversation names them.
        for message in document["messages"]:
            for attachment in message["attachments"]:
                attachment["file"] = None
    else:
        for message in document["messages"]:
            for attachment in message["attachments"]:
                if attachment["file"] and not ARCHIVE_FILE.match(attachment["file"]):
                    attachment["file"] = None
    return item
