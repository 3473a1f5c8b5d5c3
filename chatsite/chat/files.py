"""Uploads of every kind, told apart by their bytes: images (images.py), PDFs, text files and
WAV or MP3 audio. All are stored under our own names and served only to their owner."""

import io
import logging
import time
import wave

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from pypdf import PdfReader

from chatsite.chat.images import UploadRejected, reencode
from chatsite.chat.models import Attachment

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
                raise UploadRejected("The WAV file has no sound in it.")
    except (wave.Error, EOFError):
        raise UploadRejected("The WAV file is damaged, or not PCM audio.", 415) from None


PDF_SECONDS = 10.0  # reading a PDF's text at upload


def pdf_text(data: bytes) -> str:
    """The text of a PDF, page after page, cut at CHAT_MAX_FILE_CHARS (the cut is marked)."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UploadRejected("The PDF is password-protected.")
        pages = len(reader.pages)
        if pages > settings.CHAT_MAX_PDF_PAGES:
            raise UploadRejected(f"The PDF has {pages} pages; the limit is {settings.CHAT_MAX_PDF_PAGES}.")
        limit, parts, size = settings.CHAT_MAX_FILE_CHARS, [], 0
        # A hostile PDF can make every page decode the same huge stream: bound the time too.
        deadline = time.monotonic() + PDF_SECONDS
        for number, page in enumerate(reader.pages, 1):
            if time.monotonic() > deadline:
                raise UploadRejected(f"Reading the PDF took too long (stopped at page {number}).", 415)
            text = page.extract_text() or ""
            parts.append(text)
            size += len(text)
            if size > limit:
                return "\n\n".join(parts)[:limit] + f"\n[… the text was cut here, at {limit:,} characters]"
        return "\n\n".join(parts)
    except UploadRejected:
        raise
    except Exception:  # pypdf raises many kinds of error on a hostile or broken file; all mean this
        logging.getLogger(__name__).info("Unreadable PDF upload", exc_info=True)
        raise UploadRejected("The PDF is damaged or cannot be read.", 415) from None


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
        raise UploadRejected(f"The text file is longer than {settings.CHAT_MAX_FILE_CHARS:,} characters.")
    return text


def too_large() -> UploadRejected:
    return UploadRejected(f"The file is larger than {_megabytes(settings.CHAT_MAX_UPLOAD_BYTES)}.", 413)


def store_upload(upload: UploadedFile, owner) -> Attachment:
    if upload.size is None or upload.size > settings.CHAT_MAX_UPLOAD_BYTES:
        raise too_large()
    data = upload.read()
    name = (upload.name or "file")[:200]
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
        raise UploadRejected(f"chatsite cannot read that file. It takes {ACCEPTED}.", 415)
    attachment.size_bytes = len(data)
    attachment.file.save(f"{attachment.code}", ContentFile(data), save=True)
    return attachment
