from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "chatsite.teams"
    label = "teams"
    verbose_name = "Teams"

    def ready(self) -> None:
        # Keeps every process's copy of the access rules in step (see access.py).
        from chatsite.teams import access  # noqa: F401
