"""HTTP tools: an endpoint an admin makes callable by the model, with a name, a description and
a JSON Schema for its arguments."""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy

from chatsite.lib.secrets import EncryptedTextField

# The function-name rule of the Chat Completions API.
NAME_RULE = RegexValidator(r"^[a-zA-Z0-9_-]{1,64}$", "1-64 letters, digits, _ or -.")


class HttpTool(models.Model):
    name = models.CharField(
        gettext_lazy("name"),
        max_length=64,
        unique=True,
        validators=[NAME_RULE],
        help_text=gettext_lazy("What the model calls it: letters, digits, _ or -."),
    )
    description = models.TextField(
        gettext_lazy("description"), help_text=gettext_lazy("What it does and when to use it; the model reads this.")
    )
    parameters = models.JSONField(
        gettext_lazy("parameters"),
        default=dict,
        blank=True,
        help_text=gettext_lazy(
            'A JSON Schema for the arguments, e.g. {"type": "object", "properties": {"q": {"type": "string"}}}.'
        ),
    )
    url = models.URLField(
        gettext_lazy("URL"),
        max_length=500,
        help_text=gettext_lazy("Called with POST and the arguments as JSON; must be on TOOL_ALLOWED_URLS."),
    )
    # Write-only in the admin, like a provider's key: sent as the Authorization header.
    authorization = EncryptedTextField(
        gettext_lazy("authorization"),
        max_length=500,
        blank=True,
        help_text=gettext_lazy("Sent as the Authorization header (encrypted in the database)."),
    )
    timeout = models.PositiveSmallIntegerField(
        gettext_lazy("timeout"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text=gettext_lazy("Seconds."),
    )
    enabled = models.BooleanField(gettext_lazy("enabled"), default=True)
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = gettext_lazy("HTTP tool")
        verbose_name_plural = gettext_lazy("HTTP tools")

    def __str__(self) -> str:
        return self.name
