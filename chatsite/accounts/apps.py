from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class AccountsConfig(AppConfig):
    name = "chatsite.accounts"
    verbose_name = gettext_lazy("Accounts")
    label = "accounts"

    def ready(self) -> None:
        from chatsite.accounts import teamadmins  # noqa: F401 - team admins are made staff
