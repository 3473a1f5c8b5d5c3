"""Small real files for upload tests: a PDF with a line of text, a WAV, an MP3, a PNG."""

import io
import wave

from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject


def pdf_bytes(*lines: str) -> bytes:
    """A PDF with one page per line of text (Helvetica), as a PDF writer makes it."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    font_ref = writer._add_object(font)
    for line in lines:
        page = writer.add_blank_page(300, 200)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref})}
        )
        content = DecodedStreamObject()
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        content.set_data(f"BT /F1 12 Tf 20 100 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def wav_bytes(seconds: float = 0.1, rate: int = 8000) -> bytes:
    """Mono 16-bit PCM: a short square wave."""
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        frames = int(seconds * rate)
        audio.writeframes(
            b"".join((8000 if (i // 20) % 2 else -8000).to_bytes(2, "little", signed=True) for i in range(frames))
        )
    return out.getvalue()


def mp3_bytes(frames: int = 3) -> bytes:
    """MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz, 417 bytes each) of silence, behind an ID3 tag."""
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an empty ID3v2.4 tag
    frame = b"\xff\xfb\x90\x00" + b"\x00" * 413
    return tag + frame * frames


def png_bytes(color=(200, 30, 30), size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()
