"""Teams (Django groups with chatsite's own rules): who may use which models, with which
provider key, how much they may spend, and what they did spend.

Access: a model is open to everyone until a team lists it or its provider; from then on only
members of teams that list it (and superusers) may use it. Budgets cap a user or a team
(all its members together) per minute, day and month. Usage is counted per day as answers
finish (DailyUsage), so reports and budget checks never scan messages.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy

from chatsite.lib.secrets import EncryptedTextField


class TeamSettings(models.Model):
    """The site's own choices, one row, edited by superusers in the admin."""

    class Signup(models.TextChoices):
        ADMIN = "admin", gettext_lazy("Accounts are made by an admin, or by invitation")
        APPROVAL = "approval", gettext_lazy("Anyone may sign up; an admin approves each account")
        DOMAINS = "domains", gettext_lazy("Anyone with an email address at one of the domains may sign up")

    class Reading(models.TextChoices):
        OFF = "off", gettext_lazy("Admins cannot read other people's conversations")
        ON = "on", gettext_lazy("Admins can read them (each read is recorded)")
        REASON = "reason", gettext_lazy("Admins can read them after giving a reason (recorded)")

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    signup = models.CharField(gettext_lazy("sign-up"), max_length=12, choices=Signup.choices, default=Signup.ADMIN)
    signup_domains = models.CharField(
        gettext_lazy("sign-up domains"),
        max_length=500,
        blank=True,
        help_text=gettext_lazy("For sign-up by domain: e.g. example.com, lab.example.org (comma-separated)."),
    )
    transcript_reading = models.CharField(
        gettext_lazy("transcript reading"), max_length=8, choices=Reading.choices, default=Reading.ON
    )
    show_readers = models.BooleanField(
        gettext_lazy("users see who read their conversations"),
        default=True,
        help_text=gettext_lazy("On their profile page."),
    )
    members_may_delete = models.BooleanField(
        gettext_lazy("members may delete their conversations"),
        default=True,
        help_text=gettext_lazy("Off for teams that must keep records: deleting then archives."),
    )
    retention_days = models.PositiveIntegerField(
        gettext_lazy("retention days"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Delete conversations older than this many days (manage.py pruneconversations)."),
    )
    currency = models.CharField(
        gettext_lazy("currency"),
        max_length=3,
        default="USD",
        help_text=gettext_lazy("For prices and costs, e.g. USD, EUR, CNY, JPY."),
    )
    title_model = models.ForeignKey(
        "providers.LanguageModel",
        verbose_name=gettext_lazy("title model"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=gettext_lazy(
            "A cheap model that names each new conversation after its first answer. Empty: its first words."
        ),
    )

    class Meta:
        verbose_name = verbose_name_plural = gettext_lazy("site settings")

    def __str__(self) -> str:
        return "Site settings"

    @classmethod
    def current(cls) -> "TeamSettings":
        """The row (made with the defaults the first time)."""
        return cls.objects.get_or_create(id=1)[0]

    def domains(self) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in self.signup_domains.split(",") if d.strip()]


class Team(models.Model):
    """A Django group with chatsite's rules: its admins, the models it may use, its retention."""

    group = models.OneToOneField(
        Group, verbose_name=gettext_lazy("group"), on_delete=models.CASCADE, primary_key=True, related_name="team"
    )
    admins = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("admins"),
        blank=True,
        related_name="administered_teams",
        help_text=gettext_lazy(
            "Team admins manage this team's members, invitations, access and budgets, and see its usage."
        ),
    )
    allowed_models = models.ManyToManyField(
        "providers.LanguageModel",
        verbose_name=gettext_lazy("allowed models"),
        blank=True,
        related_name="teams",
        help_text=gettext_lazy("Models this team may use."),
    )
    allowed_providers = models.ManyToManyField(
        "providers.Provider",
        verbose_name=gettext_lazy("allowed providers"),
        blank=True,
        related_name="teams",
        help_text=gettext_lazy("Providers whose every model it may use."),
    )
    retention_days = models.PositiveIntegerField(
        gettext_lazy("retention days"),
        null=True,
        blank=True,
        help_text=gettext_lazy("Delete its members' conversations older than this (overrides the site's)."),
    )

    class Meta:
        verbose_name = gettext_lazy("team")
        verbose_name_plural = gettext_lazy("teams")
        ordering = ["group__name"]

    def __str__(self) -> str:
        return self.group.name


class TeamProviderKey(models.Model):
    """The key a team's members use for a provider, so their usage is billed to the team's account."""

    team = models.ForeignKey(
        Team, verbose_name=gettext_lazy("team"), on_delete=models.CASCADE, related_name="provider_keys"
    )
    provider = models.ForeignKey(
        "providers.Provider", verbose_name=gettext_lazy("provider"), on_delete=models.CASCADE, related_name="team_keys"
    )
    # Write-only in the admin, like the provider's own key, and encrypted in the database.
    api_key = EncryptedTextField(gettext_lazy("API key"), max_length=500)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "provider"], name="one_key_per_team_and_provider")]
        verbose_name = gettext_lazy("team provider key")
        verbose_name_plural = gettext_lazy("team provider keys")

    def __str__(self) -> str:
        return f"{self.team} → {self.provider}"


class Budget(models.Model):
    """Limits for one user, or for one team (all its members together). Empty: no limit."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("user"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
    )
    team = models.ForeignKey(
        Team, verbose_name=gettext_lazy("team"), null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    messages_per_minute = models.PositiveIntegerField(gettext_lazy("messages per minute"), null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(gettext_lazy("tokens per day"), null=True, blank=True)
    tokens_per_month = models.PositiveBigIntegerField(gettext_lazy("tokens per month"), null=True, blank=True)
    cost_per_month = models.DecimalField(
        gettext_lazy("cost per month"), max_digits=12, decimal_places=2, null=True, blank=True
    )

    class Meta:
        verbose_name = gettext_lazy("budget")
        verbose_name_plural = gettext_lazy("budgets")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=True, team__isnull=False)
                | models.Q(user__isnull=False, team__isnull=True),
                name="budget_for_a_user_or_a_team",
            ),
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(user__isnull=False), name="one_budget_per_user"
            ),
            models.UniqueConstraint(
                fields=["team"], condition=models.Q(team__isnull=False), name="one_budget_per_team"
            ),
        ]

    def __str__(self) -> str:
        return f"Budget of {self.user or self.team}"

    def clean(self) -> None:
        if bool(self.user_id) == bool(self.team_id):
            raise ValidationError(gettext_lazy("A budget is for a user or for a team."))


class DailyUsage(models.Model):
    """What one user spent in a day with one model, counted as their answers finish.

    Names rather than foreign keys for the team, provider and model: the rows outlive renames
    and deletions, and stay one row per day and name for the reports.
    """

    day = models.DateField(gettext_lazy("day"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("user"),
        on_delete=models.CASCADE,
        related_name="daily_usage",
    )
    team = models.ForeignKey(
        Team,
        verbose_name=gettext_lazy("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="daily_usage",
    )
    team_name = models.CharField(gettext_lazy("team name"), max_length=150, blank=True)  # "" when billed to no team
    provider_name = models.CharField(gettext_lazy("provider name"), max_length=100)
    model_name = models.CharField(gettext_lazy("model name"), max_length=200)
    requests = models.PositiveIntegerField(gettext_lazy("requests"), default=0)
    estimated_requests = models.PositiveIntegerField(
        gettext_lazy("estimated requests"), default=0
    )  # whose counts the provider did not send
    prompt_tokens = models.PositiveBigIntegerField(gettext_lazy("prompt tokens"), default=0)
    cached_tokens = models.PositiveBigIntegerField(gettext_lazy("cached tokens"), default=0)
    completion_tokens = models.PositiveBigIntegerField(gettext_lazy("completion tokens"), default=0)
    total_tokens = models.PositiveBigIntegerField(gettext_lazy("total tokens"), default=0)
    cost = models.DecimalField(gettext_lazy("cost"), max_digits=16, decimal_places=6, default=Decimal(0))

    class Meta:
        verbose_name = gettext_lazy("daily usage")
        verbose_name_plural = gettext_lazy("daily usage")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user", "team_name", "provider_name", "model_name"], name="one_usage_row_per_day"
            )
        ]
        indexes = [models.Index(fields=["day", "team_name"]), models.Index(fields=["user", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.user} {self.model_name}"
