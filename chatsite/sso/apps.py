from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "chatsite.sso"
    label = "sso"
    verbose_name = "sign-in"
