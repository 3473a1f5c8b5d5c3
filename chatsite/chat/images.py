"""Image uploads: checked with Pillow and re-encoded (files.py stores them)."""

import io
import warnings

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext
from PIL import Image, UnidentifiedImageError

# What Pillow detects -> what we store. Detection is from the bytes, never the name or header.
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


class UploadRejected(Exception):
    """An upload refused, with a message for the user and an HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def reencode(data: bytes) -> tuple[bytes, str, int, int]:
    """Decode and re-encode an image: (bytes, content type, width, height).

    Re-encoding drops whatever rides along after or inside the image (an HTML/image polyglot,
    metadata); the pixel limit is checked from the header before any pixel is decoded, so a
    decompression bomb costs nothing.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            kind = FORMATS.get(image.format or "")
            if kind is None:
                raise UploadRejected(gettext("Only PNG, JPEG, GIF and WebP images can be attached."), 415)
            width, height = image.size
            if width * height > settings.CHAT_MAX_IMAGE_PIXELS or max(width, height) > settings.CHAT_MAX_IMAGE_SIDE:
                raise UploadRejected(
                    gettext(
                        "The image is %(width)s×%(height)s pixels; the limit is %(side)s pixels a side "
                        "and %(pixels)s pixels in all."
                    )
                    % {
                        "width": width,
                        "height": height,
                        "side": settings.CHAT_MAX_IMAGE_SIDE,
                        "pixels": number_format(settings.CHAT_MAX_IMAGE_PIXELS, force_grouping=True),
                    }
                )
            image.seek(0)  # an animated GIF or WebP: keep its first frame
            image.load()
    except UploadRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(
            gettext("The image has too many pixels (the limit is %(pixels)s).")
            % {"pixels": number_format(settings.CHAT_MAX_IMAGE_PIXELS, force_grouping=True)}
        ) from None
    except UnidentifiedImageError:
        raise UploadRejected(
            gettext("That file is not an image chatsite can read (PNG, JPEG, GIF or WebP)."), 415
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise UploadRejected(gettext("The image is damaged or truncated."), 415) from None

    out = io.BytesIO()
    if kind == "image/jpeg":
        image.convert("RGB").save(out, "JPEG", quality=90)
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=False)
        kind = "image/png"
    return out.getvalue(), kind, width, height
