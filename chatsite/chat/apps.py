from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ChatConfig(AppConfig):
    name = "chatsite.chat"
    verbose_name = gettext_lazy("Chat")
    label = "chat"

    def ready(self) -> None:
        # Closes a user's sockets when their sessions end (logout, deactivation, a new password).
        from chatsite.chat import sockets  # noqa: F401
