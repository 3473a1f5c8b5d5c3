from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chatsite.chat"
    label = "chat"

    def ready(self) -> None:
        # Closes a user's sockets when their sessions end (logout, deactivation, a new password).
        from chatsite.chat import sockets  # noqa: F401
