"""File names for downloads and archive entries: readable (CJK titles kept), safe anywhere.

A title becomes a name with nothing a file system, a shell or a zip reader would take for a
path or a command: no separators, no control or direction-changing characters (which can make
"txt.exe" read as "exe.txt"), no leading dots, no reserved Windows names, at most NAME_BYTES of
UTF-8 so that any file system takes it.
"""

import re
import unicodedata
from urllib.parse import quote

NAME_BYTES = 150
# Characters Windows refuses in names, and the separators everyone uses.
_FORBIDDEN = re.compile(r'[\\/:*?"<>|]')
_SPACES = re.compile(r"\s+")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def _allowed(char: str) -> bool:
    # Cc controls, Cf format (bidi overrides, zero-width), Cs surrogates, Co private use, Cn unassigned.
    return not unicodedata.category(char).startswith("C")


def safe_filename(title: str, extension: str, fallback: str = "conversation") -> str:
    """title as a file name ending in .extension (which must be plain ASCII)."""
    name = unicodedata.normalize("NFC", title or "")
    name = "".join(char if _allowed(char) else " " for char in name)
    name = _SPACES.sub(" ", _FORBIDDEN.sub(" ", name)).lstrip(" .").strip()
    encoded = name.encode("utf-8")[:NAME_BYTES]
    name = encoded.decode("utf-8", "ignore").rstrip(" .")
    if not name or _WINDOWS_RESERVED.match(name):
        name = f"{fallback} {name}".strip() if name else fallback
    return f"{name}.{extension}"


def content_disposition(filename: str) -> str:
    """An attachment header naming the file for every browser: an ASCII `filename` for old ones
    and the exact UTF-8 name in RFC 5987's `filename*`."""
    stem, _, extension = filename.rpartition(".")
    ascii_stem = _SPACES.sub(" ", stem.encode("ascii", "ignore").decode().replace('"', "")).strip(" .-")
    ascii_name = f"{ascii_stem or 'chatsite'}.{extension}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
