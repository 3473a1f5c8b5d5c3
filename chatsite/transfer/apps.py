from django.apps import AppConfig


class TransferConfig(AppConfig):
    name = "chatsite.transfer"
    label = "transfer"
    verbose_name = "Export and import"
