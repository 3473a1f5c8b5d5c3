from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class SsoConfig(AppConfig):
    name = "chatsite.sso"
    label = "sso"
    verbose_name = gettext_lazy("sign-in")
