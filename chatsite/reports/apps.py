from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class ReportsConfig(AppConfig):
    name = "chatsite.reports"
    label = "reports"
    verbose_name = gettext_lazy("Reports")
