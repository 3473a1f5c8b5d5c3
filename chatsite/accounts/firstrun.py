"""The first-run setup code: whoever creates the first admin must have read the server's console.

Without it, the first visitor of a new install becomes its superuser, whoever that is. The
code is derived from SECRET_KEY with an HMAC rather than stored: every process of a site
shares SECRET_KEY already (sessions depend on it), so each one prints and accepts the same
code with nothing to write or race on, and it stays the same across restarts until the first
account exists, when the setup page closes for good. Knowing SECRET_KEY gives the code, but
it forges any session as well, so the code adds no secret to keep.
"""

import base64
import hashlib
import hmac
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError

log = logging.getLogger(__name__)

_announced = False


def setup_code() -> str:
    """Twelve letters and digits in three groups, e.g. ``K7QD-M2XA-PL4R`` (60 bits)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), b"chatsite first-run setup code", hashlib.sha256).digest()
    text = base64.b32encode(digest).decode()[:12]
    return "-".join(text[i : i + 4] for i in range(0, 12, 4))


def _normalized(code: str) -> str:
    # People copy it with or without the dashes, in either case, with stray spaces.
    return "".join(code.split()).replace("-", "").upper()


def is_setup_code(entered: str) -> bool:
    return hmac.compare_digest(_normalized(entered).encode(), _normalized(setup_code()).encode())


def announce_setup_code() -> None:
    """Log the setup code (console and log) when no account exists yet. Once per process, and
    one cheap query: safe to call from every start-up path."""
    global _announced
    if _announced:
        return
    try:
        exists = get_user_model().objects.exists()
    except DatabaseError:  # not migrated yet: the next call will tell
        return
    _announced = True
    if not exists:
        log.warning(
            "No account exists yet. To create the admin, open /accounts/setup/ on this site and enter "
            "the setup code %s (or run manage.py createsuperuser).",
            setup_code(),
        )
