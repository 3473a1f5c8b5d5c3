from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "chatsite.sharing"
    label = "sharing"
    verbose_name = "Shared links"
