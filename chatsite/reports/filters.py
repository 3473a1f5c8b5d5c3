"""The filters of the admin's list of conversations: by group, provider, status, attachments,
errors (the user, model and date filters are Django's own)."""

from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy

from chatsite.chat.models import Attachment, Message
from chatsite.providers.models import Provider
from chatsite.reports.reading import members_of, teams_run_by


class GroupFilter(admin.SimpleListFilter):
    title = gettext_lazy("group")
    parameter_name = "group"

    def lookups(self, request, model_admin):
        groups = Group.objects.order_by("name")
        if not request.user.is_superuser and not request.user.has_perm("chat.view_conversation"):
            groups = groups.filter(pk__in=teams_run_by(request))
        return [(str(group.pk), group.name) for group in groups]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(owner__in=members_of([int(self.value())]))
        return queryset


class ProviderFilter(admin.SimpleListFilter):
    title = gettext_lazy("provider")
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        return [(str(provider.pk), provider.name) for provider in Provider.objects.order_by("name")]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(model__provider_id=int(self.value()))
        return queryset


class StatusFilter(admin.SimpleListFilter):
    """Conversations with a message in this status (one row each, however many such messages)."""

    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Message.Status.choices

    def queryset(self, request, queryset):
        if self.value() in Message.Status.values:
            return queryset.filter(Exists(Message.objects.filter(conversation=OuterRef("pk"), status=self.value())))
        return queryset


class _YesNoFilter(admin.SimpleListFilter):
    def lookups(self, request, model_admin):
        return [("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]

    def having(self):
        raise NotImplementedError

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(Exists(self.having()))
        if self.value() == "no":
            return queryset.filter(~Exists(self.having()))
        return queryset


class AttachmentsFilter(_YesNoFilter):
    title = gettext_lazy("has attachments")
    parameter_name = "attachments"

    def having(self):
        return Attachment.objects.filter(message__conversation=OuterRef("pk"))


class ErroredFilter(_YesNoFilter):
    title = gettext_lazy("errored")
    parameter_name = "errored"

    def having(self):
        return Message.objects.filter(conversation=OuterRef("pk"), status=Message.Status.ERROR)
