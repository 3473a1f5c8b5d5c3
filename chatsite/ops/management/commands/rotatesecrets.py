"""Encrypt every stored secret with the first of SECRETS_KEYS (after putting a new key first)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from chatsite.providers.models import Provider
from chatsite.teams.models import TeamProviderKey
from chatsite.tools.models import HttpTool

SECRETS = [(Provider, "api_key"), (HttpTool, "authorization"), (TeamProviderKey, "api_key")]


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options) -> None:
        total = 0
        with transaction.atomic():
            for model, field in SECRETS:
                # Read with any of the keys, written with the first (rows already with it too).
                for pk, value in model.objects.values_list("pk", field):
                    if value:
                        model.objects.filter(pk=pk).update(**{field: value})
                        total += 1
        self.stdout.write(f"{total} secret(s) encrypted with the first key of SECRETS_KEYS.")
