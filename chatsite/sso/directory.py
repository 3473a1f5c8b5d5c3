"""Sign-in with LDAP / Active Directory through the login form, on django-auth-ldap.

Imported only when LDAP_SERVER_URI is set (settings.py lists this backend then). Beyond the
library: a deactivated user's session stops working at once (django-auth-ldap's get_user does
not look at is_active); a directory account never takes over a chatsite account of the same
name that it did not make; and a server that cannot be reached is told apart from a wrong
password, so the form can say so (local accounts go on working: their backend comes first).
"""

import logging

import ldap
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django_auth_ldap.backend import LDAPBackend, ldap_error

from chatsite.sso.models import Identity

log = logging.getLogger(__name__)
SOURCE = "ldap"
UNREACHABLE = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR)


@receiver(ldap_error)
def note_unreachable_directory(sender, context, user, request, exception, **kwargs) -> None:
    # django-auth-ldap logs the error and answers "no such user"; the form reads this mark.
    if request is not None and isinstance(exception, UNREACHABLE):
        request.sso_directory_unreachable = True


class DirectoryBackend(LDAPBackend):
    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def get_or_build_user(self, username, ldap_user):
        user, built = super().get_or_build_user(username, ldap_user)
        if built:
            return user, built
        linked = Identity.objects.filter(source=SOURCE, subject=username.lower(), user=user).exists()
        # An account made by an admin without a password (and linked to nothing) is there to be
        # claimed by its directory user; any other one of the same name is somebody else's.
        free = not user.has_usable_password() and not user.identities.exists()
        if not (linked or free):
            log.warning("Directory user %r not signed in: a chatsite account of that name exists", username)
            raise ldap_user.AuthenticationFailed("a local account has this name")
        return user, built

    def authenticate_ldap_user(self, ldap_user, password):
        with transaction.atomic():
            user = super().authenticate_ldap_user(ldap_user, password)
            if user is not None:
                Identity.objects.update_or_create(
                    source=SOURCE,
                    subject=user.get_username().lower(),
                    defaults={"user": user, "last_sign_in": timezone.now()},
                )
        return user
