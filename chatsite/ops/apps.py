from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "chatsite.ops"
    label = "ops"
    verbose_name = "Operations"
