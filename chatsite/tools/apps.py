from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ToolsConfig(AppConfig):
    name = "chatsite.tools"
    verbose_name = gettext_lazy("Tools")
    default_auto_field = "django.db.models.BigAutoField"
