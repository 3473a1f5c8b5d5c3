"""Uploads of every kind, told apart by their bytes: images (images.py), PDFs, text files and
WAV or MP3 audio. All are stored under our own names and served only to their owner."""

import asyncio
import io
import json
import wave
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.translation import gettext

from chatsite.chat.images import UploadRejected, reencode
from chatsite.chat.models import Attachment
from chatsite.lib import sandbox

# A plain-text file is recognised by its content (UTF-8, no control characters) but only under
# these names: HTML, SVG and the like are text too, and are not taken.
TEXT_EXTENSIONS = frozenset(
    "txt md markdown csv tsv json jsonl log yaml yml toml ini cfg sql py js ts go rs java c h cpp rb sh".split()
)
ACCEPTED = "PNG, JPEG, GIF or WebP images, PDF or text files (.txt, .md, .csv, .json…), WAV or MP3 audio"

# MPEG-1 Layer III bitrates (kbit/s) and sample rates (Hz) by header index; 0 and 15 are invalid.
_MP3_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)
_MP3_RATES = (44100, 48000, 32000, 0)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _is_image(data: bytes) -> bool:
    return (
        data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a"))
        or data[:4] == b"RIFF"
        and data[8:12] == b"WEBP"
    )


def _mp3_frame_length(data: bytes, at: int) -> int:
    """The length of the MPEG-1 Layer III frame starting at `at`, or 0 if none starts there."""
    header = data[at : at + 4]
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xFE != 0xFA:  # sync, MPEG-1, Layer III
        return 0
    bitrate, rate = _MP3_BITRATES[header[2] >> 4], _MP3_RATES[(header[2] >> 2) & 3]
    if not bitrate or not rate:
        return 0
    return 144 * bitrate * 1000 // rate + ((header[2] >> 1) & 1)


def audio_format(data: bytes) -> str | None:
    """ "wav" or "mp3" when the bytes are one (the formats Chat Completions takes), else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    start = 0
    if data.startswith(b"ID3") and len(data) >= 10:  # an ID3v2 tag: its size is syncsafe
        start = 10 + sum((data[6 + i] & 0x7F) << (21 - 7 * i) for i in range(4))
    length = _mp3_frame_length(data, start)
    # A whole frame, and the next one right after it if there is more: a stray 0xFFFB is not an MP3.
    end = start + length
    if length and len(data) >= end and (len(data) == end or _mp3_frame_length(data, end)):
        return "mp3"
    return None


def _check_wav(data: bytes) -> None:
    try:
        with wave.open(io.BytesIO(data)) as audio:
            if audio.getnframes() == 0:
                raise UploadRejected(gettext("The WAV file has no sound in it."))
    except (wave.Error, EOFError):
        raise UploadRejected(gettext("The WAV file is damaged, or not PCM audio."), 415) from None


def pdf_text(data: bytes) -> str:
    """The text of a PDF, page after page, cut at CHAT_MAX_FILE_CHARS (the cut is marked).

    Read in a child process (chatsite/lib/sandbox.py) stopped after CHAT_PDF_SECONDS or at
    CHAT_PDF_MEMORY_MB: a hostile PDF can make one page take minutes or gigabytes, and a check
    between pages would not stop it."""
    limit, seconds, memory_mb = settings.CHAT_MAX_FILE_CHARS, settings.CHAT_PDF_SECONDS, settings.CHAT_PDF_MEMORY_MB
    try:
        answer = json.loads(
            sandbox.run(
                "chatsite.chat.pdftext.extract",
                data,
                seconds=seconds,
                memory_mb=memory_mb,
                options={"max_pages": settings.CHAT_MAX_PDF_PAGES, "max_chars": limit},
            )
        )
    except sandbox.TooSlow:
        raise UploadRejected(
            gettext(
                "Reading the PDF's text took longer than %(seconds)s s, so it was stopped. "
                "A simpler PDF, or its text as a .txt file, will do."
            )
            % {"seconds": f"{seconds:g}"},
            415,
        ) from None
    except sandbox.TooLarge:
        raise UploadRejected(
            gettext("Reading the PDF's text needed more than %(size)s MB of memory, so it was stopped.")
            % {"size": memory_mb},
            415,
        ) from None
    except sandbox.SandboxError:  # pypdf raises many kinds of error on a hostile or broken file
        raise UploadRejected(gettext("The PDF is damaged or cannot be read."), 415) from None
    if answer.get("refused") == "encrypted":
        raise UploadRejected(gettext("The PDF is password-protected."))
    if "refused" in answer:
        raise UploadRejected(
            gettext("The PDF has %(count)s pages; the limit is %(limit)s.")
            % {"count": answer.get("pages"), "limit": settings.CHAT_MAX_PDF_PAGES}
        )
    if answer["cut"]:
        return answer["text"] + f"\n[… the text was cut here, at {limit:,} characters]"
    return answer["text"]


def plain_text(data: bytes, name: str) -> str | None:
    """The text of a plain-text file (by its name's extension and its content), else None."""
    if name.rsplit(".", 1)[-1].lower() not in TEXT_EXTENSIONS or "." not in name:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):  # NUL and friends: a binary file
        return None
    if len(text) > settings.CHAT_MAX_FILE_CHARS:
        raise UploadRejected(
            gettext("The text file is longer than %(count)s characters.")
            % {"count": number_format(settings.CHAT_MAX_FILE_CHARS, force_grouping=True)}
        )
    return text


def too_large() -> UploadRejected:
    return UploadRejected(
        gettext("The file is larger than %(size)s.") % {"size": _megabytes(settings.CHAT_MAX_UPLOAD_BYTES)}, 413
    )


# Uploads are read in threads of their own, not asyncio's default executor: slow PDFs filling
# that would hold up whatever else uses it (aiohttp's DNS lookups, for one). Four at a time also
# bounds the PDF readers running at once (each up to CHAT_PDF_MEMORY_MB); more wait their turn.
_readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload")


async def store_upload(request: HttpRequest) -> Attachment:
    """The request's file, told apart by its bytes, checked and stored for its user.

    Parsing the body, re-encoding an image and waiting for a PDF's text run in a reader thread,
    never on the event loop (every stream's); only the save goes to the database thread."""
    owner = await request.auser()
    loop = asyncio.get_running_loop()
    upload = await loop.run_in_executor(_readers, request.FILES.get, "file")
    if upload is None:
        raise UploadRejected(gettext("No file was sent."))
    attachment, data = await loop.run_in_executor(_readers, _read_upload, upload, owner)
    await database_sync_to_async(_save)(attachment, data)
    return attachment


def _read_upload(upload: UploadedFile, owner) -> tuple[Attachment, bytes]:
    """An unsaved Attachment for the upload and the bytes to store; raises UploadRejected."""
    if upload.size is None or upload.size > settings.CHAT_MAX_UPLOAD_BYTES:
        raise too_large()
    return read_file(upload.read(), upload.name or "file", owner)


def read_file(data: bytes, name: str, owner) -> tuple[Attachment, bytes]:
    """An unsaved Attachment for a file's bytes, told apart and checked as an upload is (imports
    use it too), and the bytes to store; raises UploadRejected."""
    name = name[:200]
    attachment = Attachment(owner=owner, original_name=name)
    if data.startswith(b"%PDF-"):
        attachment.kind, attachment.content_type = Attachment.Kind.PDF, "application/pdf"
        attachment.text = pdf_text(data)
    elif kind := audio_format(data):
        if kind == "wav":
            _check_wav(data)
        attachment.kind, attachment.content_type = Attachment.Kind.AUDIO, f"audio/{'wav' if kind == 'wav' else 'mpeg'}"
    elif _is_image(data):
        data, attachment.content_type, attachment.width, attachment.height = reencode(data)
    elif (text := plain_text(data, name)) is not None:
        attachment.kind, attachment.content_type, attachment.text = Attachment.Kind.TEXT, "text/plain", text
    else:
        raise UploadRejected(gettext("chatsite cannot read that file. It takes %(kinds)s.") % {"kinds": ACCEPTED}, 415)
    attachment.size_bytes = len(data)
    return attachment, data


def _save(attachment: Attachment, data: bytes) -> None:
    attachment.file.save(f"{attachment.code}", ContentFile(data), save=True)
