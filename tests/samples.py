"""Small real files for upload tests: a PDF with a line of text, hostile PDFs, a WAV, an MP3, a PNG."""

import io
import wave

from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject


def _helvetica(writer: PdfWriter):
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    return writer._add_object(font)


def pdf_bytes(*lines: str) -> bytes:
    """A PDF with one page per line of text (Helvetica), as a PDF writer makes it."""
    writer = PdfWriter()
    font_ref = _helvetica(writer)
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


def pdf_form_bomb(form: bytes, uses: int) -> bytes:
    """A one-page PDF of a kilobyte or two whose page draws one form XObject (content `form`,
    compressed) `uses` times: pypdf reads the form's content again at each use (up to 5,000 a
    page), so a small file makes for a long read and as much text as the form has, times `uses`."""
    writer = PdfWriter()
    fonts = DictionaryObject({NameObject("/F1"): _helvetica(writer)})
    content = DecodedStreamObject()
    content.set_data(form)
    xform = content.flate_encode()
    xform.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(300), NumberObject(200)]),
            NameObject("/Resources"): DictionaryObject({NameObject("/Font"): fonts}),
        }
    )
    page = writer.add_blank_page(300, 200)
    page[NameObject("/Resources")] = DictionaryObject(
        {
            NameObject("/Font"): fonts,
            NameObject("/XObject"): DictionaryObject({NameObject("/X0"): writer._add_object(xform)}),
        }
    )
    draw = DecodedStreamObject()
    draw.set_data(b"/X0 Do " * uses)
    page[NameObject("/Contents")] = writer._add_object(draw.flate_encode())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_of_much_text() -> bytes:
    """One page that comes to 450 million characters: 5,000 uses of a form of 1,000 lines of 90."""
    return pdf_form_bomb((b"BT /F1 12 Tf 20 100 Td (" + b"A" * 90 + b") Tj ET ") * 1000, 5000)


def pdf_of_a_large_stream() -> bytes:
    """A 70 KB PDF whose page's one form decompresses to 70 MB (of spaces, around one word)."""
    return pdf_form_bomb(b"BT /F1 12 Tf (big) Tj ET" + b" " * 70_000_000, 1)


def pdf_that_reads_slowly() -> bytes:
    """One page without text that takes minutes to read: 5,000 uses of a form of 10,000 q/Q
    operators and an empty text (so that pypdf cannot skip it as a form without text)."""
    return pdf_form_bomb(b"BT /F1 12 Tf () Tj ET " + b"q Q " * 10_000, 5000)


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
