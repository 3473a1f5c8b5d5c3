"""The user model (Django's own, swappable from the first migration) and invitations."""

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy


class User(AbstractUser):
    class Language(models.TextChoices):
        # The interface's languages (the translations themselves come later).
        EN = "en", "English"
        ZH_HANS = "zh-hans", "简体中文"
        ZH_HANT = "zh-hant", "繁體中文"
        JA = "ja", "日本語"

    class Waiting(models.TextChoices):
        """Why an account that signed itself up cannot log in yet (it is inactive until then)."""

        NO = "", gettext_lazy("no")
        APPROVAL = "approval", gettext_lazy("an admin's approval")
        EMAIL = "email", gettext_lazy("the confirmation of its email address")

    # The user's own choices (their profile page): the interface's language ("" follows the
    # browser) and the time zone dates are shown in ("" is the server's TIME_ZONE).
    language = models.CharField(gettext_lazy("language"), max_length=16, blank=True, choices=Language.choices)
    time_zone = models.CharField(gettext_lazy("time zone"), max_length=64, blank=True)
    waiting = models.CharField(
        gettext_lazy("waiting for"), max_length=8, blank=True, choices=Waiting.choices, default=Waiting.NO
    )


def _invite_expiry() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=settings.INVITE_DAYS)


class Invite(models.Model):
    """A link that makes one account, once, before it expires.

    Only the SHA-256 of the link's token is stored: the link is shown once, to whoever made
    it, and neither the database nor the admin can give it out again.
    """

    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    email = models.EmailField(
        gettext_lazy("email"),
        blank=True,
        help_text=gettext_lazy("Only an account with this address can be made with it."),
    )
    team = models.ForeignKey(
        "teams.Team",
        verbose_name=gettext_lazy("team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="invites",
        help_text=gettext_lazy("The new account joins this team."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("created by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)
    expires = models.DateTimeField(gettext_lazy("expires"), default=_invite_expiry)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("used by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    used_at = models.DateTimeField(gettext_lazy("used at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]
        verbose_name = gettext_lazy("invitation")
        verbose_name_plural = gettext_lazy("invitations")

    def __str__(self) -> str:
        return f"Invitation {self.pk} to {self.team or 'chatsite'}" + (f" for {self.email}" if self.email else "")

    @property
    def expired(self) -> bool:
        return self.expires <= timezone.now()


class FirstRun(models.Model):
    """One row, written when the first admin is created: its fixed primary key makes the
    database refuse a second first-run admin, however many forms are submitted at once."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    done = models.DateTimeField(auto_now_add=True)
