from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class TransferConfig(AppConfig):
    name = "chatsite.transfer"
    label = "transfer"
    verbose_name = gettext_lazy("Export and import")
