"""Closes a user's websockets when their sessions end: they log out, an admin deactivates or
deletes them, their password changes, or their session rows are deleted.

A socket is authenticated once, at its handshake; without these it would go on working for
a session that no longer exists.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from chatsite.chat.events import LOGOUT, session_group, user_group


def close_sockets(group: str) -> None:
    async_to_sync(get_channel_layer().group_send)(group, {"type": LOGOUT})


def close_sockets_on_commit(group: str) -> None:
    # After the commit: a change that is rolled back has ended nothing.
    transaction.on_commit(lambda: close_sockets(group))


@receiver(user_logged_out)
def close_session_sockets(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed, so its key is still known.
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        close_sockets(session_group(key))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def close_users_sockets_on_deactivation_or_password_change(sender, instance, created, **kwargs) -> None:
    if created:
        return
    # set_password() keeps the new raw password in _password until save() has run the
    # password validators' password_changed() hooks, after this signal: it is set exactly
    # when the password was changed (the admin's forms, a password change view,
    # manage.py changepassword), and not when check_password() upgrades an old hash.
    password_changed = getattr(instance, "_password", None) is not None
    if password_changed or not instance.is_active:
        close_sockets_on_commit(user_group(instance.pk))


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def close_deleted_users_sockets(sender, instance, **kwargs) -> None:
    close_sockets_on_commit(user_group(instance.pk))


@receiver(post_delete, sender=Session)
def close_deleted_sessions_sockets(sender, instance, **kwargs) -> None:
    # One by one or by a queryset (Django then deletes row by row to send this signal), by
    # the admin, clearsessions or a logout elsewhere.
    close_sockets_on_commit(session_group(instance.session_key))
