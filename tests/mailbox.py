"""The mail the site sent, as Django's test mail backend (locmem) collects it.

Account mail is sent on a thread of its own (chatsite/accounts/mail.py), so a test waits for
it rather than reading the outbox the moment the page answered.
"""

from __future__ import annotations

import re
import time

from django.core import mail


def wait_for_mail(count: int = 1, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # and nothing more behind it
    assert len(mail.outbox) == count, [m.subject for m in mail.outbox]
    return mail.outbox


def link_in(message, prefix: str = "http://testserver/") -> str:
    """The path of the one link into the site in a mail."""
    links = re.findall(re.escape(prefix) + r"\S+", message.body)
    assert len(links) == 1, message.body
    return "/" + links[0].removeprefix(prefix)
