"""What admins see of everyone's history, and the record of each time they look."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy

from chatsite.teams.models import DailyUsage


class AuditEntry(models.Model):
    """One look by an admin or a team admin at someone else's conversation or message.

    Written by every admin path that shows another person's messages (the change pages and
    their inlines, search results, the transcript view); never changed or deleted in the admin.
    """

    class View(models.TextChoices):
        TRANSCRIPT = "transcript", gettext_lazy("transcript")
        CHANGE = "change", gettext_lazy("change page")
        SEARCH = "search", gettext_lazy("search results")
        MESSAGE = "message", gettext_lazy("message")

    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=gettext_lazy("reader")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_by", verbose_name=gettext_lazy("whose")
    )
    # Kept as ids and a title too: the record outlives the conversation it is about.
    conversation = models.ForeignKey(
        "chat.Conversation",
        verbose_name=gettext_lazy("conversation"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    conversation_code = models.UUIDField(gettext_lazy("conversation code"), null=True, blank=True)
    conversation_title = models.CharField(gettext_lazy("conversation"), max_length=200, blank=True)
    message = models.ForeignKey(
        "chat.Message",
        verbose_name=gettext_lazy("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    view = models.CharField(gettext_lazy("where"), max_length=12, choices=View.choices)
    reason = models.TextField(gettext_lazy("reason"), blank=True)
    at = models.DateTimeField(gettext_lazy("when"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = gettext_lazy("read of a conversation")
        verbose_name_plural = gettext_lazy("reads of conversations")

    def __str__(self) -> str:
        return f"{self.reader} read {self.owner}'s “{self.conversation_title}”"


class UsageReport(DailyUsage):
    """The usage reports' place in the admin (its pages are the report, not a list of rows)."""

    class Meta:
        proxy = True
        verbose_name = gettext_lazy("usage report")
        verbose_name_plural = gettext_lazy("usage reports")
