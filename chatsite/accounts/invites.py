"""Invitation links: made with a random token of which only the digest is kept, used once."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from chatsite.accounts.models import Invite, User


class InviteUnusable(Exception):
    """The invitation cannot make an account (any more), with the reason for the visitor."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(the token for the link, its digest for the database)."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def find(token: str) -> Invite | None:
    return Invite.objects.select_related("team__group", "created_by").filter(token_digest=digest(token)).first()


def check_usable(invite: Invite | None) -> Invite:
    """The invite, or InviteUnusable saying why it cannot be used."""
    if invite is None:
        raise InviteUnusable(gettext("This invitation link is not valid. Check that you copied all of it."))
    if invite.used_at is not None:
        raise InviteUnusable(gettext("This invitation was used already: each one makes a single account."))
    if invite.expired:
        expired = date_format(timezone.localtime(invite.expires), "SHORT_DATETIME_FORMAT")
        if invite.created_by:
            raise InviteUnusable(
                gettext("This invitation expired on %(date)s. Ask whoever sent it (%(name)s) for a new one.")
                % {"date": expired, "name": invite.created_by.get_username()}
            )
        raise InviteUnusable(
            gettext("This invitation expired on %(date)s. Ask whoever sent it for a new one.") % {"date": expired}
        )
    return invite


def accept(invite: Invite, make_user) -> User:
    """Make the invite's account with make_user() and join its team, if the invite is still
    unused and unexpired at that moment; InviteUnusable otherwise.

    The invite is claimed by an UPDATE that only matches an unused row, in the transaction that
    makes the account: of two people sending the same link at once, the second one's UPDATE
    waits for the first's commit and then matches nothing (PostgreSQL re-reads the row; SQLite
    runs one writing transaction at a time), so exactly one account is made. Should making the
    account fail, the claim is rolled back with it and the link still works.
    """
    with transaction.atomic():
        now = timezone.now()
        claimed = Invite.objects.filter(pk=invite.pk, used_at__isnull=True, expires__gt=now).update(used_at=now)
        if not claimed:
            invite.refresh_from_db()
            check_usable(invite)
            raise InviteUnusable(gettext("This invitation was used already: each one makes a single account."))
        user = make_user()
        Invite.objects.filter(pk=invite.pk).update(used_by=user)
        if invite.team is not None:
            user.groups.add(invite.team.group)
    return user
