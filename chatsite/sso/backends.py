"""Chatsite's own passwords, which LOCAL_PASSWORDS=0 keeps for superusers only (the first-run
admin among them), so that a site signing in through its directory or provider still has a way
in when they are down."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend


class LocalPasswordBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not settings.LOCAL_PASSWORDS and not user.is_superuser:
            return None
        return user
