"""A PDF's text, read in a sandbox child (chatsite/lib/sandbox.py): a hostile PDF can make pypdf
take minutes or gigabytes on one page. files.py calls it with the limits from settings; it
imports no Django, so the child starts fast."""

import io
import json

from pypdf import PdfReader


class _Full(BaseException):
    """Raised from pypdf's text visitor once the cap is passed. A BaseException, because pypdf
    catches Exception around each form XObject it draws and would go on with the next one."""


def extract(data: bytes, *, max_pages: int, max_chars: int) -> bytes:
    """JSON: {"text": …, "cut": true/false} (pages joined by a blank line, at most max_chars),
    or {"refused": "encrypted" | "pages", "pages": …}, the reason (files.py says it in the
    reader's language). A damaged PDF raises (pypdf's own errors)."""
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        return _answer(refused="encrypted")
    pages = len(reader.pages)
    if pages > max_pages:
        return _answer(refused="pages", pages=pages)
    parts: list[str] = []
    size = 0

    # pypdf 7.1 calls the visitor with each piece of text as it adds it to the page's text (at
    # BT, ET, Tf, cm, a new line, a form XObject, the end), and the pieces make up exactly what
    # extract_text returns; so counting here cuts within a page. What one piece can hold (a run
    # of text on one line of one content stream) is bounded by the sandbox's time and memory.
    def keep(text: str, *_) -> None:
        nonlocal size
        parts.append(text)
        size += len(text)
        if size > max_chars:
            raise _Full

    try:
        for number, page in enumerate(reader.pages):
            if number:
                keep("\n\n")
            page.extract_text(visitor_text=keep)
    except _Full:
        return _answer(text="".join(parts)[:max_chars], cut=True)
    return _answer(text="".join(parts), cut=False)


def _answer(**fields) -> bytes:
    return json.dumps(fields).encode()
