"""Which directory or identity-provider account each chatsite user is."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy


class Identity(models.Model):
    """A user's account at a source: "ldap" (subject: the directory username, lower case) or
    "oidc:<provider>" (subject: the provider's `sub`). Users are found by this link, never by
    e-mail or by name, so an account elsewhere cannot take over a chatsite account that shares
    its address or name."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=gettext_lazy("user"), on_delete=models.CASCADE, related_name="identities"
    )
    source = models.CharField(gettext_lazy("source"), max_length=40)
    subject = models.CharField(gettext_lazy("subject"), max_length=255)
    created = models.DateTimeField(gettext_lazy("created"), auto_now_add=True)
    last_sign_in = models.DateTimeField(gettext_lazy("last sign in"), null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("identity")
        verbose_name_plural = gettext_lazy("identities")
        constraints = [models.UniqueConstraint(fields=["source", "subject"], name="one_user_per_identity")]

    def __str__(self) -> str:
        return f"{self.source}: {self.subject}"
