from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class TeamsConfig(AppConfig):
    name = "chatsite.teams"
    label = "teams"
    verbose_name = gettext_lazy("Teams")

    def ready(self) -> None:
        # access: keeps every process's copy of the access rules in step (see access.py);
        # admin_settings: the site settings' admin (the sign-up mode and the rest), apart from admin.py.
        from chatsite.teams import access, admin_settings  # noqa: F401
