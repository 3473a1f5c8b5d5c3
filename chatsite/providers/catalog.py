"""Keeps each provider's model list in step with its `GET /models`."""

import asyncio

from django.db import transaction
from django.utils import timezone

from chatsite.providers.client import ProviderError, list_models
from chatsite.providers.models import LanguageModel, Provider


def refresh_models(provider: Provider) -> int:
    """Fetch the provider's models and store new ones; returns how many were added.

    Models an admin added by hand, hid or relabelled are kept as they are; a gateway with no
    /models simply records the error and keeps its hand-added models.
    """
    try:
        listed = asyncio.run(list_models(provider.base_url, provider.api_key))
    except ProviderError as error:
        provider.models_error = error.message[:500]
        provider.save(update_fields=["models_error"])
        raise
    names = sorted({str(item.get("id")) for item in listed if isinstance(item, dict) and item.get("id")})
    with transaction.atomic():
        known = set(provider.models.values_list("name", flat=True))
        new = [
            LanguageModel(provider=provider, name=name[:200], added_by_hand=False)
            for name in names
            if name not in known
        ]
        LanguageModel.objects.bulk_create(new)
        provider.models_fetched = timezone.now()
        provider.models_error = ""
        provider.save(update_fields=["models_fetched", "models_error"])
    return len(new)


def ensure_default() -> None:
    """Make sure exactly one usable model is the default, when any is usable."""
    usable = LanguageModel.objects.usable()
    if usable.filter(is_default=True).exists():
        return
    first = usable.exclude(provider__managed="local").first() or usable.first()
    if first:
        LanguageModel.objects.filter(pk=first.pk).update(is_default=True)


def set_default(model: LanguageModel) -> None:
    with transaction.atomic():
        LanguageModel.objects.exclude(pk=model.pk).filter(is_default=True).update(is_default=False)
        LanguageModel.objects.filter(pk=model.pk).update(is_default=True, hidden=False)
