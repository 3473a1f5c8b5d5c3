"""A conversation shared read-only with the sharer's team by a link (docs/sharing.md).

A share is a snapshot: the conversation as chatsite's JSON (chatsite/transfer/document.py) at the
moment it was shared or last updated, so what teammates read is what the sharer chose to show,
later messages (and edits that drop earlier ones) stay private until the sharer updates the link.
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy


def new_token() -> str:
    # 32 random bytes: unguessable, and the link is still only for the sharer's team.
    return secrets.token_urlsafe(32)


class Share(models.Model):
    token = models.CharField(gettext_lazy("token"), max_length=64, unique=True, default=new_token, editable=False)
    # Deleting the conversation deletes its links: what is deleted is not read elsewhere.
    conversation = models.ForeignKey(
        "chat.Conversation", verbose_name=gettext_lazy("conversation"), on_delete=models.CASCADE, related_name="shares"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=gettext_lazy("owner"), on_delete=models.CASCADE, related_name="shares"
    )
    title = models.CharField(gettext_lazy("title"), max_length=200)  # the conversation's, when shared
    snapshot = models.JSONField(gettext_lazy("snapshot"))
    message_count = models.PositiveIntegerField(gettext_lazy("message count"), default=0)
    shared = models.DateTimeField(gettext_lazy("shared"))  # when the snapshot was taken (shared, or last updated)
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(gettext_lazy("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("share")
        verbose_name_plural = gettext_lazy("shares")
        ordering = ["-shared"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_share_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("sharing:shared", args=[self.token])
