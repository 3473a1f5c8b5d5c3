"""What was imported from where, so that importing the same export again skips what is here."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy


class ImportedConversation(models.Model):
    class Source(models.TextChoices):
        CHATGPT = "chatgpt", "ChatGPT"
        CHATSITE = "chatsite", "chatsite"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=gettext_lazy("owner"), on_delete=models.CASCADE, related_name="+"
    )
    # Deleting the conversation forgets the import: the next import brings it back.
    conversation = models.OneToOneField(
        "chat.Conversation", verbose_name=gettext_lazy("conversation"), on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(gettext_lazy("source"), max_length=10, choices=Source.choices)
    source_id = models.CharField(gettext_lazy("source id"), max_length=100)  # the conversation's id where it came from
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)

    class Meta:
        verbose_name = gettext_lazy("imported conversation")
        verbose_name_plural = gettext_lazy("imported conversations")
        constraints = [
            models.UniqueConstraint(fields=["owner", "source", "source_id"], name="one_import_per_source_conversation")
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.source_id}"
