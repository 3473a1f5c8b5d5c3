"""Providers (OpenAI-compatible endpoints, configured as rows) and their models."""

import uuid

from django.db import models


class Provider(models.Model):
    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(
        max_length=500, help_text="The API root, e.g. https://api.ofox.ai/v1 (without /chat/completions)."
    )
    # Write-only in the admin; never rendered to a page, a log or an error message.
    api_key = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    extra_body = models.JSONField(
        default=dict,
        blank=True,
        help_text='Extra request fields sent with every chat request, e.g. {"provider": {"sort": "latency"}}.',
    )
    # Rows the app manages itself (the bundled demo model, OPENAI_BASE_URL); see bootstrap.py.
    managed = models.CharField(max_length=20, blank=True, editable=False)
    models_fetched = models.DateTimeField(null=True, blank=True, editable=False)
    models_error = models.CharField(max_length=500, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LanguageModelQuerySet(models.QuerySet):
    def usable(self) -> "LanguageModelQuerySet":
        """Models a user may pick: visible, from an enabled provider."""
        return self.filter(hidden=False, provider__enabled=True).select_related("provider")


class LanguageModel(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    # Sent upstream untouched (vendor prefixes like "openai/gpt-4o" included).
    name = models.CharField(max_length=200)
    label = models.CharField(max_length=200, blank=True, help_text="What people see; the name if empty.")
    hidden = models.BooleanField(default=False)
    is_default = models.BooleanField(default=False)
    added_by_hand = models.BooleanField(default=True, help_text="Kept when the model list is refreshed.")
    token_field = models.CharField(
        max_length=24,
        blank=True,
        choices=[("max_tokens", "max_tokens"), ("max_completion_tokens", "max_completion_tokens")],
        help_text="The field for the answer's length limit; learned when the provider refuses the other one.",
    )
    created = models.DateTimeField(auto_now_add=True)

    objects = LanguageModelQuerySet.as_manager()

    class Meta:
        ordering = ["provider__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="unique_model_per_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.provider.name})"

    @property
    def display_name(self) -> str:
        return self.label or self.name
