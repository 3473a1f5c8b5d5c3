"""Closes a user's websockets when they log out or an admin deactivates them."""

import hashlib

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def session_group(session_key: str) -> str:
    # Group names travel through the channel layer (and Redis): never the session key itself.
    return "session-" + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def close_sockets(group: str) -> None:
    async_to_sync(get_channel_layer().group_send)(group, {"type": "user.logout"})


@receiver(user_logged_out)
def close_session_sockets(sender, request, user, **kwargs) -> None:
    # Sent before the session is flushed, so its key is still known.
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        close_sockets(session_group(key))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def close_deactivated_users_sockets(sender, instance, created, **kwargs) -> None:
    if not created and not instance.is_active:
        close_sockets(user_group(instance.pk))
