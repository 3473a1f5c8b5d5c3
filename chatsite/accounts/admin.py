"""Users and groups in the admin: Django's own admins, with chatsite's access rules."""

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group

from chatsite.accounts.models import User
from chatsite.lib.adminaccess import ViewOnlyGuard


class UserAdmin(ViewOnlyGuard, auth_admin.UserAdmin):
    pass


class GroupAdmin(ViewOnlyGuard, auth_admin.GroupAdmin):
    pass


admin.site.register(User, UserAdmin)
# django.contrib.auth registered Group with its plain admin (it is listed earlier in INSTALLED_APPS).
admin.site.unregister(Group)
admin.site.register(Group, GroupAdmin)
