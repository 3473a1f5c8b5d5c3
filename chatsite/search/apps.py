from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class SearchConfig(AppConfig):
    name = "chatsite.search"
    label = "search"
    verbose_name = gettext_lazy("Search")
