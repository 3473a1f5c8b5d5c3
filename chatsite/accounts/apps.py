from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chatsite.accounts"
    label = "accounts"

    def ready(self) -> None:
        from chatsite.accounts import teamadmins  # noqa: F401 - team admins are made staff
