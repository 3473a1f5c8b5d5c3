"""The link that confirms a signed-up email address: signed (Django's signing, with
SECRET_KEY) and dated, so nothing is stored for it and it expires by itself.

It names the account and the address: a link for an address the account no longer has, or
for an account that is not waiting for it, confirms nothing.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from chatsite.accounts.models import User

SALT = "chatsite.accounts.confirm-email"


@dataclass(frozen=True)
class Checked:
    user: User | None  # the account waiting for this confirmation, if any
    expired: bool = False


def token_for(user: User) -> str:
    return signing.dumps({"user": user.pk, "email": user.email}, salt=SALT)


def link_for(request, user: User) -> str:
    return request.build_absolute_uri(reverse("accounts:confirm", args=[token_for(user)]))


def check(token: str) -> Checked:
    """The account this token confirms; expired=True (with the account) when the link is
    genuine but too old, so that a new one can be sent."""
    expired = False
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.SIGNUP_CONFIRM_SECONDS)
    except signing.SignatureExpired:
        expired = True
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return Checked(None)
    if not isinstance(data, dict):
        return Checked(None)
    user = User.objects.filter(pk=data.get("user"), waiting=User.Waiting.EMAIL, is_active=False).first()
    if user is None or user.email.lower() != str(data.get("email", "")).lower():
        return Checked(None)
    return Checked(user, expired)
