"""Keeping and ordering a user's conversations: pins, the archive, folders, and the sidebar
they make (pinned on top, then the folders, then the rest by recency).

A conversation shows in one place: pinned if it is pinned, else in its folder, else among the
rest. A move puts it where the user saw it go: moving into or out of a folder also unpins it.
Pinning, archiving and moving never touch `updated`, so they do not reorder the list by recency.
"""

import re
import unicodedata
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext

from chatsite.chat.models import Conversation, Folder
from chatsite.lib.text import TextRefused, check_text

MAX_NAME_CHARS = 100
MAX_KEY_CHARS = 400  # Folder.name_key: NFKC can make one character eighteen (U+FDFA)
MAX_FOLDERS = 200  # per user: every folder is on every page
LIST_CONVERSATIONS = 200  # the most a page lists pinned, in each folder, and of the rest
ARCHIVED_CONVERSATIONS = 500  # the most the Archived view lists, the latest archived first

# Embeddings, overrides and isolates make a name show as something else ("txt.exe" shown
# "exe.txt"); marks (U+200E, U+200F) only nudge neutral characters, so they are taken.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Shown as nothing: Hangul fillers, the combining grapheme joiner and variation selectors, besides
# the format characters (category Cf: zero-width space and joiners, soft hyphen, BOM).
_INVISIBLE = re.compile("[\u115f\u1160\u3164\uffa0\u034f\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def name_key(name: str) -> str:
    """A name as two names are compared: case, compatibility forms (full-width ｗｏｒｋ),
    spacing and invisible characters ignored."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(text.split())


def clean_folder_name(value: object) -> tuple[str, str]:
    """(the name as stored, its key) from what a browser sent, or TextRefused saying why not."""
    if not isinstance(value, str):
        raise TextRefused(gettext("Give the folder a name."))
    text = check_text(value, gettext("The folder name"))
    found = _BIDI_CONTROLS.search(text)
    if found:
        raise TextRefused(
            gettext("The folder name holds a character that reorders text (U+%(code)04X); leave it out.")
            % {"code": ord(found.group())}
        )
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if not name:
        raise TextRefused(gettext("Give the folder a name."))
    key = name_key(name)
    if len(name) > MAX_NAME_CHARS or len(key) > MAX_KEY_CHARS:
        raise TextRefused(gettext("A folder name has at most %(count)s characters.") % {"count": MAX_NAME_CHARS})
    if not key:
        raise TextRefused(gettext("The folder name shows nothing: give it letters, digits or signs."))
    return name, key


def _taken(name: str) -> TextRefused:
    return TextRefused(gettext("You have a folder named “%(name)s” already.") % {"name": name})


def create_folder(user, value: object) -> Folder:
    name, key = clean_folder_name(value)
    if Folder.objects.for_user(user).count() >= MAX_FOLDERS:
        raise TextRefused(gettext("You have %(count)s folders, the most there can be.") % {"count": MAX_FOLDERS})
    try:
        # The unique constraint decides when two tabs make the same folder at once.
        with transaction.atomic():
            return Folder.objects.create(owner=user, name=name, name_key=key)
    except IntegrityError:
        raise _taken(name) from None


def rename_folder(folder: Folder, value: object) -> Folder:
    name, key = clean_folder_name(value)
    folder.name, folder.name_key = name, key
    try:
        with transaction.atomic():
            folder.save(update_fields=["name", "name_key"])
    except IntegrityError:
        raise _taken(name) from None
    return folder


def delete_folder(folder: Folder) -> None:
    # Its conversations are kept, out of any folder (on_delete=SET_NULL, an UPDATE that leaves
    # their `updated` alone).
    folder.delete()


def _set(conversation: Conversation, **values) -> None:
    # An UPDATE rather than save(): save() would stamp `updated` (auto_now) and reorder the list.
    Conversation.objects.filter(pk=conversation.pk).update(**values)
    for name, value in values.items():
        setattr(conversation, name, value)


def pin(conversation: Conversation, pinned: bool) -> None:
    _set(conversation, pinned_at=timezone.now() if pinned else None)


def archive(conversation: Conversation, archived: bool) -> None:
    # Pin and folder are kept: unarchiving puts it back where it was.
    _set(conversation, archived_at=timezone.now() if archived else None)


def move(conversation: Conversation, folder: Folder | None) -> None:
    """File the conversation in folder (None: out of any), unpinned."""
    # Callers load both through their user's own querysets; this is the last line.
    if folder is not None and folder.owner_id != conversation.owner_id:
        raise ValueError("a conversation goes only in its owner's folders")
    _set(conversation, folder=folder, pinned_at=None)


@dataclass
class Sidebar:
    pinned: list[Conversation] = field(default_factory=list)
    folders: list[tuple[Folder, list[Conversation]]] = field(default_factory=list)
    rest: list[Conversation] = field(default_factory=list)


def sidebar(user) -> Sidebar:
    """The user's unarchived conversations as the sidebar lists them."""
    listed = (
        Conversation.objects.for_user(user)
        .filter(archived_at__isnull=True)
        .only("code", "title", "updated", "pinned_at", "folder__code")
        .select_related("folder")
    )
    pinned = list(listed.filter(pinned_at__isnull=False).order_by("-pinned_at", "-pk")[:LIST_CONVERSATIONS])
    # The latest LIST_CONVERSATIONS of each folder, in one query.
    filed = (
        listed.filter(pinned_at__isnull=True, folder__isnull=False)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("folder_id")], order_by=[F("updated").desc(), F("pk").desc()])
        )
        .filter(rank__lte=LIST_CONVERSATIONS)
        .order_by("-updated", "-pk")
    )
    by_folder: dict[int, list[Conversation]] = {}
    for conversation in filed:
        by_folder.setdefault(conversation.folder_id, []).append(conversation)
    rest = listed.filter(pinned_at__isnull=True, folder__isnull=True).order_by("-updated", "-pk")
    return Sidebar(
        pinned=pinned,
        folders=[(folder, by_folder.get(folder.pk, [])) for folder in Folder.objects.for_user(user)],
        rest=list(rest[:LIST_CONVERSATIONS]),
    )


def archived(user) -> list[Conversation]:
    """The user's archived conversations, the latest archived first."""
    queryset = Conversation.objects.for_user(user).filter(archived_at__isnull=False).select_related("folder")
    return list(queryset.order_by("-archived_at", "-pk")[:ARCHIVED_CONVERSATIONS])


def folder_payload(folder: Folder) -> dict:
    return {"id": str(folder.code), "name": folder.name}


def kept_payload(conversation: Conversation) -> dict:
    """Where a conversation is kept, for the sidebar (its folder loaded with it)."""
    return {
        "id": str(conversation.code),
        "title": conversation.title,
        "updated": conversation.updated.isoformat() if conversation.updated else None,
        "pinned": conversation.pinned_at is not None,
        "pinned_at": conversation.pinned_at.isoformat() if conversation.pinned_at else None,
        "folder": str(conversation.folder.code) if conversation.folder_id else None,
        "archived": conversation.archived_at is not None,
    }
