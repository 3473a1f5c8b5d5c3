from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "chatsite.providers"
    label = "providers"
