from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class SharingConfig(AppConfig):
    name = "chatsite.sharing"
    label = "sharing"
    verbose_name = gettext_lazy("Shared links")
