from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ProvidersConfig(AppConfig):
    name = "chatsite.providers"
    verbose_name = gettext_lazy("Providers")
    label = "providers"
