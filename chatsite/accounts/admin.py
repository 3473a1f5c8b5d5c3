"""Users, groups and invitations in the admin: Django's own admins with chatsite's access
rules, the approval of signed-up accounts, and invitations for superusers and team admins.

Team admins are staff users without model permissions (they are made staff when they become
a team's admin, see teamadmins.py): what they may do here follows from the teams they
administer (chatsite.teams.access.administered), not from Django's permissions.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, ngettext

from chatsite.accounts import invites, signup
from chatsite.accounts.forms import CheckedText
from chatsite.accounts.models import Invite, User
from chatsite.lib.adminaccess import ModelAdmin, ViewOnlyGuard
from chatsite.teams.access import administered
from chatsite.teams.models import Team


class WaitingFilter(admin.SimpleListFilter):
    title = gettext_lazy("waiting for")
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label in User.Waiting.choices if value]

    def queryset(self, request, queryset):
        return queryset.filter(waiting=self.value()) if self.value() else queryset


class UserAdmin(ViewOnlyGuard, auth_admin.UserAdmin):
    list_display = (*auth_admin.UserAdmin.list_display, "is_active", "waiting")
    list_filter = (WaitingFilter, *auth_admin.UserAdmin.list_filter)
    fieldsets = (
        *auth_admin.UserAdmin.fieldsets,
        (gettext_lazy("Preferences and sign-up"), {"fields": ("language", "time_zone", "waiting")}),
    )
    readonly_fields = ("waiting",)
    actions = ["approve"]

    @admin.action(
        description=gettext_lazy("Approve the selected accounts (and tell them by email)"), permissions=["change"]
    )
    def approve(self, request, queryset) -> None:
        count = signup.approve(request, queryset)
        if count:
            message = ngettext("%(count)d account approved.", "%(count)d accounts approved.", count) % {"count": count}
        else:
            message = gettext("None of them was waiting.")
        self.message_user(request, message)

    def save_model(self, request, obj, form, change) -> None:
        if obj.is_active:
            obj.waiting = User.Waiting.NO  # activated by hand: approved
        super().save_model(request, obj, form, change)


class GroupAdmin(ViewOnlyGuard, auth_admin.GroupAdmin):
    # A group that is a team is managed on the team's page (members, access, budgets): linked here.
    list_display = ("name", "team_page")
    readonly_fields = ("team_page",)

    @admin.display(description=gettext_lazy("team"))
    def team_page(self, group: Group):
        team = Team.objects.filter(group=group).first() if group.pk else None
        if team is None:
            return "—"
        url = reverse("admin:teams_team_change", args=[team.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Its team: members, access and budget"))


class InviteForm(CheckedText, forms.ModelForm):
    class Meta:
        model = Invite
        fields = ("email", "team", "expires")

    def clean_expires(self):
        expires = self.cleaned_data["expires"]
        if expires <= timezone.now():
            raise forms.ValidationError(gettext("Pick a time in the future."))
        return expires


class InviteAdmin(ModelAdmin):
    form = InviteForm
    list_display = ("__str__", "team", "email", "created_by", "created", "expires", "state")
    list_filter = (("team", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("team__group", "created_by", "used_by")
    search_fields = ("email",)
    readonly_fields = ("created_by", "created", "used_by", "used_at")

    @admin.display(description=gettext_lazy("state"))
    def state(self, invite: Invite) -> str:
        if invite.used_at:
            return gettext("used by %(user)s") % {"user": invite.used_by or gettext("a deleted account")}
        return gettext("expired") if invite.expired else gettext("open")

    # -- who sees and does what ----------------------------------------------------------

    def _teams(self, request) -> list[int]:
        if not hasattr(request, "_administered_teams"):
            request._administered_teams = administered(request.user) if request.user.is_staff else []
        return request._administered_teams

    def _team_admin_may(self, request, invite: Invite | None) -> bool:
        teams = self._teams(request)
        return bool(teams) and (invite is None or invite.team_id in teams)

    def has_module_permission(self, request) -> bool:
        return self._team_admin_may(request, None) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._team_admin_may(request, obj) or super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return self._team_admin_may(request, None) or super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._team_admin_may(request, obj) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._team_admin_may(request, obj) or super().has_delete_permission(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(team__in=self._teams(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "team" and not request.user.is_superuser:
            # Only superusers make invitations to no team, or to any team.
            kwargs["queryset"] = Team.objects.filter(pk__in=self._teams(request)).select_related("group")
            kwargs["required"] = True
        elif db_field.name == "team":
            kwargs["queryset"] = Team.objects.select_related("group")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.used_at is not None:
            return ("email", "team", "expires", *self.readonly_fields)
        return self.readonly_fields

    # -- the link, shown once ------------------------------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            token, obj.token_digest = invites.new_token()
            obj.created_by = request.user
            request._invite_link = request.build_absolute_uri(reverse("accounts:invite", args=[token]))
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # The page itself carries the link (no message stored in a cookie or the session):
        # only its digest is kept, so this is the one time it can be seen.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "invite": obj,
            "link": request._invite_link,
            "title": gettext("Invitation made"),
        }
        return TemplateResponse(request, "admin/accounts/invite/made.html", context)


admin.site.register(User, UserAdmin)
# django.contrib.auth registered Group with its plain admin (it is listed earlier in INSTALLED_APPS).
admin.site.unregister(Group)
admin.site.register(Group, GroupAdmin)
admin.site.register(Invite, InviteAdmin)
