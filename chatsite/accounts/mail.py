"""The site's mail to people about their accounts, sent on a thread of its own.

Why a thread: a page that sends mail to an address only when an account has it (a password
reset, a sign-up with an address in use) would answer later for those addresses by the time
an SMTP server takes, and tell anyone timing it which addresses have accounts. Sent
beside the request, every such page answers in the same time.
"""

import logging
import threading

from django.conf import settings
from django.core.mail import EmailMessage
from django.template import loader
from django.utils import translation

from chatsite.accounts.locale import chosen_by

log = logging.getLogger(__name__)


def deliver(message: EmailMessage, what: str) -> None:
    """Send message on a thread of its own; a failure is logged (without the SMTP password,
    which no exception of Django's or smtplib's carries)."""

    def send() -> None:
        try:
            message.send()
        except Exception:
            log.exception("Could not send the %s mail", what)

    threading.Thread(target=send, name=f"mail: {what}", daemon=True).start()


def send(to: str, template: str, context: dict, what: str) -> None:
    """The mail accounts/mail/<template>.txt (its first line the subject) to one address, in
    the language its user chose (else the page's that sent it)."""
    with translation.override(chosen_by(context.get("user")) or translation.get_language()):
        text = loader.render_to_string(f"accounts/mail/{template}.txt", context)
    subject, _, body = text.strip().partition("\n")
    deliver(EmailMessage(subject.strip(), body.strip() + "\n", settings.DEFAULT_FROM_EMAIL, [to]), what)
