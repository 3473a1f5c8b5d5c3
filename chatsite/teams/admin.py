"""Teams and budgets in the admin: one page per team (its group's name and members, its admins,
the models it may use, its retention, its budget and its provider keys) and the users' budgets.

Superusers do everything. A team admin (staff, in Team.admins, without model permissions) sees
only the teams they administer and their members: they change the members (existing accounts,
added by username, so the admin never lists the site's other users), the models the team may
use and the budgets of the team and its members. They never see providers or keys: the team's
allowed providers and provider keys are not on their page at all, and its name, admins and
retention are shown read-only (a group's name may be kept in step by the directory, admins are
made staff, and retention is the site's records policy).

Listing a model restricts it to the teams that list it, and a model no team lists is open to
everyone, so one team's access can change everyone's: a team admin may only move models among
the teams they administer (a model that no team of theirs has is not offered) and may not take
away a model's last listing, which would open it to the whole site. Anyone else (other staff,
also with Django's model permissions) sees no team: everything here follows from the teams a
user administers.
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count, Q
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from chatsite.lib.adminaccess import ModelAdmin
from chatsite.providers.models import LanguageModel
from chatsite.teams.access import administered
from chatsite.teams.admin_settings import clean_retention
from chatsite.teams.models import Budget, Team, TeamProviderKey

User = get_user_model()
LIMITS = ("messages_per_minute", "tokens_per_day", "tokens_per_month", "cost_per_month")


def teams_of(request) -> list[int]:
    """The teams this request's user administers (every team for a superuser), read once per
    request (the invitations' admin keeps the same)."""
    if not hasattr(request, "_administered_teams"):
        request._administered_teams = administered(request.user) if request.user.is_staff else []
    return request._administered_teams


def members_of(teams: list[int]):
    return User.objects.filter(groups__in=teams).distinct().order_by("username")


def _keys_allowed(request) -> bool:
    # As for providers' own keys (chatsite.lib.adminaccess.SecretHolderAdmin): a key goes to
    # its provider's URL, which whoever manages providers chooses.
    return request.user.is_superuser or (settings.STAFF_MANAGE_PROVIDERS and request.user.has_perm("teams.change_team"))


# -- the team's page ---------------------------------------------------------------------------


class TeamForm(forms.ModelForm):
    """A team with its group: the name and members are the group's. `editor` and `teams` (the
    teams the editor administers) are set per request by TeamAdmin.get_form."""

    editor = None
    teams: list[int] = []

    name = forms.CharField(label=_("Name"), max_length=150)
    members = forms.ModelMultipleChoiceField(queryset=User.objects.none(), required=False, label=_("Members"))
    add_members = forms.CharField(
        required=False,
        label=_("Add members"),
        help_text=_("Usernames of existing accounts, separated by commas or spaces."),
    )

    class Meta:
        model = Team
        fields = ("admins", "allowed_models", "allowed_providers", "retention_days")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A ModelForm keeps its declared fields whatever its Meta says: drop those this
        # editor's page does not show (a team admin's has no name field to fill in).
        for name in [name for name in self.fields if name not in self._meta.fields]:
            del self.fields[name]
        current = self.instance.group.user_set.order_by("username") if self.instance.pk else User.objects.none()
        if "members" in self.fields:
            field = self.fields["members"]
            # The widget first: setting the queryset gives the widget its choices.
            if self.editor.is_superuser:
                field.widget = FilteredSelectMultiple(gettext("members"), is_stacked=False)
                field.queryset = User.objects.order_by("username")
            else:
                # Only the members: untick to remove; others are added by username.
                field.widget = forms.CheckboxSelectMultiple()
                field.queryset = current
                field.help_text = _("Untick a member to take them out of the team.")
            self.initial["members"] = list(current.values_list("pk", flat=True))
        if "name" in self.fields and self.instance.pk:
            self.initial["name"] = self.instance.group.name

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(gettext("Give the team a name."))
        others = Group.objects.filter(name=name)
        if self.instance.pk:
            if others.exclude(pk=self.instance.pk).exists():
                raise forms.ValidationError(gettext("There is a group named “%(name)s” already.") % {"name": name})
        elif others.filter(team__isnull=False).exists():
            raise forms.ValidationError(gettext("There is a team named “%(name)s” already.") % {"name": name})
        return name

    def clean_add_members(self) -> list:
        names = [name for name in re.split(r"[\s,]+", self.cleaned_data["add_members"]) if name]
        found = {user.username: user for user in User.objects.filter(username__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            raise forms.ValidationError(
                ngettext(
                    "There is no account named %(names)s.",
                    "There are no accounts named %(names)s.",
                    len(missing),
                )
                % {"names": ", ".join(missing)}
            )
        return list(found.values())

    def clean_retention_days(self) -> int | None:
        return clean_retention(self.cleaned_data["retention_days"])

    def clean_allowed_models(self):
        chosen = self.cleaned_data["allowed_models"]
        if self.editor.is_superuser or not self.instance.pk:
            return chosen
        taken = set(self.instance.allowed_models.values_list("pk", flat=True)) - {model.pk for model in chosen}
        # Still restricted without this team's listing: another team lists it, or its provider.
        kept = LanguageModel.objects.filter(pk__in=taken).filter(
            Q(teams__in=Team.objects.exclude(pk=self.instance.pk)) | Q(provider__teams__isnull=False)
        )
        opened = LanguageModel.objects.filter(pk__in=taken - set(kept.values_list("pk", flat=True)))
        if opened:
            raise forms.ValidationError(
                gettext(
                    "No other team lists %(models)s: taken from this team, it would be open to everyone. "
                    "Only a superuser can do that."
                )
                % {"models": ", ".join(model.display_name for model in opened.order_by("name"))}
            )
        return chosen


class TeamBudgetInline(admin.StackedInline):
    """The team's budget: all its members together."""

    model = Budget
    fk_name = "team"
    fields = LIMITS
    extra = 1
    max_num = 1
    verbose_name = _("team budget")
    verbose_name_plural = _("team budget (all its members together; empty: no limit)")

    def _may(self, request, team) -> bool:
        # Without a team: asked for the inline's queryset, which is its parent's budget (the
        # parent's page itself is checked by TeamAdmin).
        teams = teams_of(request)
        return request.user.is_superuser or (bool(teams) and (team is None or team.pk in teams))

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request, obj)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


class TeamProviderKeyForm(forms.ModelForm):
    # Write-only, like a provider's key: never sent back to the browser, not even masked.
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the stored key. Delete the row to stop using one."),
    )

    class Meta:
        model = TeamProviderKey
        fields = ("provider", "api_key")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("api_key", None)
        if self.instance.pk:
            # The key stays with the provider it was entered for: another provider means a new row.
            self.fields["provider"].disabled = True

    def clean_api_key(self) -> str:
        key = self.cleaned_data["api_key"].strip()
        if not key and not self.instance.pk:
            raise forms.ValidationError(gettext("Enter the team’s key for this provider."))
        return key

    def save(self, commit: bool = True):
        instance = super().save(commit=False)
        if not self.cleaned_data["api_key"] and instance.pk:
            instance.api_key = TeamProviderKey.objects.values_list("api_key", flat=True).get(pk=instance.pk)
        if commit:
            instance.save()
        return instance


class TeamProviderKeyInline(admin.TabularInline):
    """The team's own keys: its members' requests to that provider use it, and are billed to it."""

    model = TeamProviderKey
    form = TeamProviderKeyForm
    extra = 0
    verbose_name = _("provider key")
    verbose_name_plural = _("provider keys (its members' requests to the provider use the team's key)")

    def has_view_permission(self, request, obj=None) -> bool:
        return _keys_allowed(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


@admin.register(Team)
class TeamAdmin(ModelAdmin):
    form = TeamForm
    list_display = ("__str__", "member_count", "admin_names", "model_count", "retention_days")
    search_fields = ("group__name",)
    filter_horizontal = ("admins", "allowed_models", "allowed_providers")
    readonly_fields = ("team_name", "admin_names", "member_table", "retention_shown")

    # -- who sees and does what ----------------------------------------------------------

    def _may(self, request, team) -> bool:
        teams = teams_of(request)
        return bool(teams) and (team is None or team.pk in teams)

    def has_module_permission(self, request) -> bool:
        return self._may(request, None) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request, obj) or super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may(request, obj) or super().has_change_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser  # a team is a group: superusers make them

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def get_queryset(self, request):
        queryset = (
            super()
            .get_queryset(request)
            .select_related("group")
            .prefetch_related("admins")
            .annotate(members=Count("group__user", distinct=True), models=Count("allowed_models", distinct=True))
        )
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=teams_of(request))

    # -- the page --------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            main = ("name", "member_table", "members", "add_members", "admins")
            if obj is None:
                main = ("name", "members", "admins")
            access = ("allowed_models", "allowed_providers")
            kept = ("retention_days",)
        else:
            main = ("team_name", "member_table", "members", "add_members", "admin_names")
            access = ("allowed_models",)
            kept = ("retention_shown",)
        return (
            (None, {"fields": main}),
            (
                _("Access"),
                {
                    "fields": access,
                    "description": _(
                        "A model that some team lists (itself or by its provider) is for those teams' "
                        "members only; a model no team lists is open to everyone."
                    ),
                },
            ),
            (_("Conversations"), {"fields": kept}),
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"editor": request.user, "teams": teams_of(request)})

    def get_inlines(self, request, obj):
        # On the add page the team does not exist yet for its budget to belong to.
        return [TeamBudgetInline, TeamProviderKeyInline] if obj is not None else []

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "allowed_models":
            queryset = LanguageModel.objects.select_related("provider").order_by("provider__name", "name")
            if not request.user.is_superuser:
                # Only models one of their teams has: offering any other would restrict it (an
                # open one) or hand over one kept for other teams.
                teams = teams_of(request)
                queryset = queryset.filter(Q(teams__in=teams) | Q(provider__teams__in=teams)).distinct()
            kwargs["queryset"] = queryset
        elif db_field.name == "admins":
            kwargs["queryset"] = User.objects.order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        name = form.cleaned_data.get("name")
        if not change:
            obj.group = Group.objects.get_or_create(name=name)[0]  # an existing group becomes a team
        elif name and obj.group.name != name:
            obj.group.name = name
            obj.group.save(update_fields=["name"])
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        group = form.instance.group
        wanted = set(form.cleaned_data.get("members", ())) | set(form.cleaned_data.get("add_members", ()))
        current = set(group.user_set.all())
        # Made from an existing group (the directory's, say), a team keeps that group's members.
        if change and (gone := current - wanted):
            group.user_set.remove(*gone)
        if new := wanted - current:
            group.user_set.add(*new)

    # -- read-only parts ---------------------------------------------------------------------

    @admin.display(description=_("name"))
    def team_name(self, team: Team) -> str:
        return team.group.name

    @admin.display(description=_("members"), ordering="members")
    def member_count(self, team: Team) -> int:
        return team.members

    @admin.display(description=_("models"), ordering="models")
    def model_count(self, team: Team) -> int:
        return team.models

    @admin.display(description=_("admins"))
    def admin_names(self, team: Team) -> str:
        return ", ".join(sorted(user.username for user in team.admins.all())) or "—"

    @admin.display(description=_("retention"))
    def retention_shown(self, team: Team) -> str:
        if team.retention_days is None:
            return gettext("The site's")
        return ngettext("%(days)s day", "%(days)s days", team.retention_days) % {"days": team.retention_days}

    @admin.display(description=_("who is in it"))
    def member_table(self, team: Team):
        if team.pk is None:
            return "—"
        members = team.group.user_set.order_by("username")
        if not members:
            return gettext("No members yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    user.username,
                    user.get_full_name(),
                    user.email,
                    gettext("active") if user.is_active else gettext("deactivated"),
                    _when(user.last_login),
                )
                for user in members
            ),
        )
        return format_html(
            '<table class="team-members"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            gettext("username"),
            gettext("name"),
            gettext("email address"),
            gettext("account"),
            gettext("last login"),
            rows,
        )


def _when(moment) -> str:
    return date_format(localtime(moment), "SHORT_DATETIME_FORMAT") if moment else gettext("never")


# -- users' budgets ---------------------------------------------------------------------------


class BudgetTeamFilter(admin.SimpleListFilter):
    title = _("team")
    parameter_name = "team"

    def lookups(self, request, model_admin):
        teams = Team.objects.filter(pk__in=teams_of(request)).select_related("group")
        return [(str(team.pk), str(team)) for team in teams]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        # Only the user's own teams: another team's id would tell which of their members are in it.
        if self.value() not in {str(team) for team in teams_of(request)}:
            return queryset.none()
        return queryset.filter(user__groups=self.value())


class BudgetForm(forms.ModelForm):
    class Meta:
        model = Budget
        fields = ("user", *LIMITS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].required = True

    def clean_user(self):
        user = self.cleaned_data["user"]
        if Budget.objects.filter(user=user).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(
                gettext("%(user)s has a budget already: change that one.") % {"user": user.username}
            )
        return user


@admin.register(Budget)
class BudgetAdmin(ModelAdmin):
    """Users' own budgets (a team's is on the team's page)."""

    form = BudgetForm
    list_display = ("user", *LIMITS)
    list_select_related = ("user",)
    list_filter = (BudgetTeamFilter,)
    search_fields = ("user__username",)

    def _may(self, request, budget: Budget | None) -> bool:
        teams = teams_of(request)
        if not teams:
            return False
        return budget is None or (budget.user_id is not None and members_of(teams).filter(pk=budget.user_id).exists())

    def has_module_permission(self, request) -> bool:
        return self._may(request, None) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request, obj) or super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return self._may(request, None) or super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may(request, obj) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may(request, obj) or super().has_delete_permission(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request).filter(user__isnull=False)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user__in=members_of(teams_of(request)).values("pk"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            users = User.objects.order_by("username")
            kwargs["queryset"] = users if request.user.is_superuser else members_of(teams_of(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
