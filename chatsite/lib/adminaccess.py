"""Who may do what in the admin: the base of every chatsite ModelAdmin.

Django's admin lets a user with only the view permission POST to a change list: an action
that declares no `permissions` runs for them (and in Django 6.1 one placed on the change form
runs before that view checks the change permission), and any other POST renders the page
again with 200. Here a view-only user's POST to a change list or a change form is refused
with 403, and an action that declares no permissions needs the change permission.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.core.exceptions import PermissionDenied


class ViewOnlyGuard:
    """Mixin for a ModelAdmin (Django's own too, as for User and Group): viewing never writes."""

    def _may_write(self, request) -> bool:
        # Delete counts: Django's "delete selected" action is posted to the change list.
        return self.has_change_permission(request) or self.has_delete_permission(request)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        if self.has_change_permission(request):
            return actions
        return {name: action for name, action in actions.items() if getattr(action.func, "allowed_permissions", None)}

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and not self._may_write(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Adding is Django's own check (the add permission); an existing object's form is
        # where 6.1's change-form actions are posted.
        if request.method == "POST" and object_id is not None and not self._may_write(request):
            raise PermissionDenied
        return super().changeform_view(request, object_id, form_url, extra_context)


class ModelAdmin(ViewOnlyGuard, admin.ModelAdmin):
    """What every chatsite ModelAdmin derives from."""


class SecretHolderAdmin(ModelAdmin):
    """For rows that hold a secret sent to the row's own URL (providers' API keys, HTTP tools'
    Authorization headers): whoever edits the row can point the secret at a host of their
    choice, so only superusers see them unless STAFF_MANAGE_PROVIDERS lets staff with the
    model permissions in. The form is a WriteOnlySecretMixin one; what it says on saving
    (a secret cleared because the address changed) is shown to the admin."""

    def _staff_may(self, request) -> bool:
        return request.user.is_superuser or settings.STAFF_MANAGE_PROVIDERS

    def has_view_permission(self, request, obj=None) -> bool:
        return self._staff_may(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return self._staff_may(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._staff_may(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._staff_may(request) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if notice := getattr(form, "secret_notice", ""):
            self.message_user(request, notice, messages.WARNING)
