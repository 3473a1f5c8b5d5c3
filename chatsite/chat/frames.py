"""The edge of the websocket: a browser's frame, parsed and checked before anything acts on it.

Whatever a browser sends is text of its choosing: JSON nested 10,000 deep, a lone surrogate,
NUL, a megabyte. parse() turns each into a FrameError with a message for the user (or a
TooLarge, which also closes the socket), so nothing downstream meets such a frame.
"""

import json

from django.conf import settings
from django.utils.translation import gettext

from chatsite.lib.text import TextRefused, check_value

# An application may close a websocket with 1000 or 3000-4999 only (autobahn, under daphne,
# enforces it): 4009 is "message too big" (1009) as chatsite says it. A message over daphne's
# own limit gets the protocol's 1009 from autobahn itself (lib/daphne.py).
CLOSE_TOO_BIG = 4009


class FrameError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TooLarge(FrameError):
    """A frame over CHAT_MAX_FRAME_BYTES: refused, and the socket closed with 4009."""


def parse(text_data: str | None, bytes_data: bytes | None) -> dict:
    """The frame as a dict with a string "type", every text in it checked; or FrameError."""
    if bytes_data is not None or text_data is None:
        raise FrameError(gettext("Frames must be JSON text."))
    limit = settings.CHAT_MAX_FRAME_BYTES
    # Characters first: UTF-8 takes at least a byte each and at most four.
    if len(text_data) > limit or (len(text_data) > limit // 4 and len(text_data.encode("utf-8", "replace")) > limit):
        limit //= 1024
        raise TooLarge(
            gettext("That message is too large to send (the limit is %(limit)s KB a frame).") % {"limit": limit}
        )
    try:
        frame = json.loads(text_data)
    except RecursionError:
        raise FrameError(gettext("Frames must not be nested that deeply.")) from None
    except ValueError:
        raise FrameError(gettext("Frames must be JSON objects.")) from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError(gettext("Frames must be JSON objects with a type."))
    try:
        return check_value(frame, gettext("The message"))
    except TextRefused as error:
        raise FrameError(error.message) from None


def ref(frame: dict) -> str | None:
    """The browser's own name for a frame, echoed in the answer to it (a new chat's `created`,
    an `error`): a short text, or nothing."""
    value = frame.get("ref")
    return value[:64] if isinstance(value, str) else None
