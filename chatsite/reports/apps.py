from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "chatsite.reports"
    label = "reports"
    verbose_name = "Reports"
