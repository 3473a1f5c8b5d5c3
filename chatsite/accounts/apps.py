from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chatsite.accounts"
    label = "accounts"

    def ready(self) -> None:
        from chatsite.accounts import sockets  # noqa: F401  (connects the logout/deactivate hooks)
