"""Providers (OpenAI-compatible endpoints, configured as rows) and their models."""

import functools
import uuid

from django.db import connections, models
from django.utils.translation import gettext_lazy

from chatsite.lib import sqlrows
from chatsite.lib.secrets import EncryptedTextField


class Provider(models.Model):
    name = models.CharField(gettext_lazy("name"), max_length=100, unique=True)
    base_url = models.URLField(
        gettext_lazy("base URL"),
        max_length=500,
        help_text=gettext_lazy("The API root, e.g. https://api.ofox.ai/v1 (without /chat/completions)."),
    )
    # Write-only in the admin; never rendered to a page, a log or an error message; encrypted
    # in the database (chatsite/lib/secrets.py).
    api_key = EncryptedTextField(gettext_lazy("API key"), max_length=500, blank=True)
    enabled = models.BooleanField(gettext_lazy("enabled"), default=True)
    extra_body = models.JSONField(
        gettext_lazy("extra body"),
        default=dict,
        blank=True,
        help_text=gettext_lazy(
            'Extra request fields sent with every chat request, e.g. {"provider": {"sort": "latency"}}.'
        ),
    )
    # Rows the app manages itself (the bundled demo model, OPENAI_BASE_URL); see bootstrap.py.
    managed = models.CharField(gettext_lazy("managed"), max_length=20, blank=True, editable=False)
    models_fetched = models.DateTimeField(gettext_lazy("models fetched"), null=True, blank=True, editable=False)
    models_error = models.CharField(gettext_lazy("models error"), max_length=500, blank=True, editable=False)
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)

    class Meta:
        verbose_name = gettext_lazy("provider")
        verbose_name_plural = gettext_lazy("providers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LanguageModelQuerySet(models.QuerySet):
    def usable(self) -> "LanguageModelQuerySet":
        """Models a user may pick: visible, from an enabled provider."""
        return self.filter(hidden=False, provider__enabled=True).select_related("provider")

    def usable_list(self) -> list["LanguageModel"]:
        """usable(), in its order, read by hand-written SQL (lib/sqlrows.py): a batch with a new
        chat in it waits on this read, which the ORM took most of a millisecond to build."""
        connection = connections[self.db]
        language_models, providers = tables()
        # The select list model_from_row reads.
        sql = (
            f"SELECT {language_models.columns}, {providers.columns} FROM {language_models.source}"  # noqa: S608 - only columns go in
            f" JOIN {providers.source} ON p.id = lm.provider_id"
            " WHERE lm.hidden = %s AND p.enabled = %s ORDER BY p.name, lm.name"
        )
        return [model_from_row(connection, row) for row in sqlrows.fetch(connection, sql, [False, True])]


class LanguageModel(models.Model):
    code = models.UUIDField(gettext_lazy("code"), default=uuid.uuid4, unique=True, editable=False)
    provider = models.ForeignKey(
        Provider, verbose_name=gettext_lazy("provider"), on_delete=models.CASCADE, related_name="models"
    )
    # Sent upstream untouched (vendor prefixes like "openai/gpt-4o" included).
    name = models.CharField(gettext_lazy("name"), max_length=200)
    label = models.CharField(
        gettext_lazy("label"), max_length=200, blank=True, help_text=gettext_lazy("What people see; the name if empty.")
    )
    hidden = models.BooleanField(gettext_lazy("hidden"), default=False)
    is_default = models.BooleanField(gettext_lazy("is default"), default=False)
    added_by_hand = models.BooleanField(
        gettext_lazy("added by hand"), default=True, help_text=gettext_lazy("Kept when the model list is refreshed.")
    )
    token_field = models.CharField(
        gettext_lazy("token field"),
        max_length=24,
        blank=True,
        choices=[("max_tokens", "max_tokens"), ("max_completion_tokens", "max_completion_tokens")],
        help_text=gettext_lazy(
            "The field for the answer's length limit; learned when the provider refuses the other one."
        ),
    )
    # What the model can do: from GET /models where it says so, else the family table
    # (families.py). Defaults are the table's for an unknown model.
    vision = models.BooleanField(gettext_lazy("vision"), default=True, help_text=gettext_lazy("Takes images."))
    tools = models.BooleanField(gettext_lazy("tools"), default=True, help_text=gettext_lazy("Calls tools (functions)."))
    reasoning = models.BooleanField(
        gettext_lazy("reasoning"),
        default=False,
        help_text=gettext_lazy("Thinks before answering; takes reasoning effort."),
    )
    json = models.BooleanField(
        gettext_lazy("JSON mode"), default=True, help_text=gettext_lazy("Takes response_format (JSON answers).")
    )
    logprobs = models.BooleanField(
        gettext_lazy("logprobs"), default=True, help_text=gettext_lazy("Returns token probabilities.")
    )
    audio = models.BooleanField(
        gettext_lazy("audio"), default=False, help_text=gettext_lazy("Takes audio input (WAV, MP3).")
    )
    files = models.BooleanField(
        gettext_lazy("files"), default=False, help_text=gettext_lazy("Reads PDF files; others get the extracted text.")
    )
    web_search = models.BooleanField(
        gettext_lazy("web search"), default=False, help_text=gettext_lazy("Takes web_search_options.")
    )
    context_length = models.PositiveIntegerField(
        gettext_lazy("context length"), null=True, blank=True, help_text=gettext_lazy("Tokens in the context window.")
    )
    max_output_tokens = models.PositiveIntegerField(
        gettext_lazy("max output tokens"), null=True, blank=True, help_text=gettext_lazy("Longest answer in tokens.")
    )
    # Set when an admin edits the abilities: refreshing the model list leaves them alone then.
    abilities_by_hand = models.BooleanField(
        gettext_lazy("abilities by hand"),
        default=False,
        help_text=gettext_lazy("The abilities were set by an admin; untick to take them from GET /models again."),
    )
    # What the provider charges, per million tokens, in the site's currency (teams.TeamSettings):
    # costs and cost budgets are reckoned from these. Empty: costs nothing.
    price_input = models.DecimalField(
        gettext_lazy("input price"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=gettext_lazy("Per million prompt tokens."),
    )
    price_cached_input = models.DecimalField(
        gettext_lazy("cached input price"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=gettext_lazy("Per million cached prompt tokens; the input price when empty."),
    )
    price_output = models.DecimalField(
        gettext_lazy("output price"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=gettext_lazy("Per million answer tokens."),
    )
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)

    objects = LanguageModelQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("language model")
        verbose_name_plural = gettext_lazy("language models")
        ordering = ["provider__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="unique_model_per_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.provider.name})"

    @property
    def display_name(self) -> str:
        return self.label or self.name

    def abilities(self) -> dict:
        """The page's shape of what this model can do (read by the composer and settings)."""
        return {
            **{flag: getattr(self, flag) for flag in ABILITY_FLAGS},
            "context_length": self.context_length,
            "max_output": self.max_output_tokens,
        }

    def set_abilities(self, abilities: dict) -> None:
        """Take abilities in the families.py / abilities() shape."""
        for flag in ABILITY_FLAGS:
            setattr(self, flag, bool(abilities[flag]))
        self.context_length = abilities["context_length"]
        self.max_output_tokens = abilities["max_output"]


PRICE_FIELDS = ("price_input", "price_cached_input", "price_output")
ABILITY_FLAGS = ("vision", "tools", "reasoning", "json", "logprobs", "audio", "files", "web_search")
# The model fields an admin edits as "abilities".
ABILITY_FIELDS = (*ABILITY_FLAGS, "context_length", "max_output_tokens")


@functools.cache
def tables() -> tuple[sqlrows.Table, sqlrows.Table]:
    """The models' and providers' tables in hand-written SQL, as lm and p: a select list of
    `lm`'s columns then `p`'s, read by model_from_row."""
    return sqlrows.Table(LanguageModel, "lm"), sqlrows.Table(Provider, "p")


def model_from_row(connection, row, start: int = 0) -> LanguageModel | None:
    """The model (with its provider) from row[start:], selected as tables() says; None for an
    outer join that found none."""
    language_models, providers = tables()
    model = language_models.make(connection, row, start)
    if model is not None:
        model.provider = providers.make(connection, row, start + len(language_models))
    return model
