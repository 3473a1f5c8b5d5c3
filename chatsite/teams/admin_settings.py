"""The site settings (TeamSettings, one row) in the admin: shown to staff with the view
permission, changed by superusers only. Kept apart from the teams' own admins (admin.py)."""

from django import forms
from django.contrib import admin
from django.core.validators import DomainNameValidator
from django.shortcuts import redirect
from django.utils.translation import gettext, gettext_lazy

from chatsite.lib.adminaccess import ModelAdmin
from chatsite.lib.text import TextRefused, check_text
from chatsite.teams.models import TeamSettings

_domain = DomainNameValidator(accept_idna=False)


def clean_retention(days: int | None) -> int | None:
    """A retention in days (empty: keep for ever); 0 would delete every conversation at the next run."""
    if days is not None and days < 1:
        raise forms.ValidationError(gettext("Keep conversations at least 1 day, or leave it empty to keep them."))
    return days


class TeamSettingsForm(forms.ModelForm):
    class Meta:
        model = TeamSettings
        fields = (
            "signup",
            "signup_domains",
            "transcript_reading",
            "show_readers",
            "members_may_delete",
            "retention_days",
            "currency",
        )

    def clean_retention_days(self) -> int | None:
        return clean_retention(self.cleaned_data["retention_days"])

    def clean_signup_domains(self) -> str:
        text = self.cleaned_data["signup_domains"]
        try:
            text = check_text(text, gettext("The list of domains"))
        except TextRefused as error:
            raise forms.ValidationError(error.message) from None
        domains = [d.strip().lower().lstrip("@") for d in text.split(",") if d.strip()]
        for domain in domains:
            try:
                _domain(domain)
            except forms.ValidationError:
                raise forms.ValidationError(
                    gettext("“%(domain)s” is not a domain name (e.g. example.com).") % {"domain": domain}
                ) from None
        return ", ".join(domains)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("signup") == TeamSettings.Signup.DOMAINS and not cleaned.get("signup_domains"):
            self.add_error("signup_domains", gettext("Sign-up by domain needs at least one domain."))
        return cleaned


class TeamSettingsAdmin(ModelAdmin):
    form = TeamSettingsForm
    fieldsets = (
        (gettext_lazy("Sign-up"), {"fields": ("signup", "signup_domains")}),
        (
            gettext_lazy("Conversations"),
            {"fields": ("transcript_reading", "show_readers", "members_may_delete", "retention_days")},
        ),
        (gettext_lazy("Costs"), {"fields": ("currency",)}),
    )

    def has_add_permission(self, request) -> bool:
        return False  # the one row is made with its defaults when first needed

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def changelist_view(self, request, extra_context=None):
        TeamSettings.current()
        return super().changelist_view(request, extra_context)

    def response_change(self, request, obj):
        # One row: saving it goes back to it, not to a list of one.
        response = super().response_change(request, obj)
        return redirect(request.path) if response.status_code == 302 else response


admin.site.register(TeamSettings, TeamSettingsAdmin)
