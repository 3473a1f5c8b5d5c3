"""Providers the app configures itself: one from OPENAI_BASE_URL, and the bundled demo model."""

import logging

from django.conf import settings

from chatsite.providers.catalog import ensure_default, family_fields, refresh_models, set_default
from chatsite.providers.events import ProviderError
from chatsite.providers.models import LanguageModel, Provider

log = logging.getLogger(__name__)

ENV = "env"
LOCAL = "local"


# Whether this process has configured the environment's provider (manage.py serve does it before
# daphne starts; a server started otherwise does it when it starts, see chat/runtime.py).
env_configured = False


def configure_env_provider() -> Provider | None:
    """The provider named by OPENAI_BASE_URL / OPENAI_API_KEY (and OPENAI_MODEL), kept in step."""
    global env_configured
    env_configured = True
    if not settings.OPENAI_BASE_URL:
        Provider.objects.filter(managed=ENV).update(enabled=False)
        return None
    provider, _ = Provider.objects.update_or_create(
        managed=ENV,
        defaults={
            "name": "OPENAI_BASE_URL",
            "base_url": settings.OPENAI_BASE_URL,
            "api_key": settings.OPENAI_API_KEY,
            "enabled": True,
        },
    )
    try:
        refresh_models(provider)
    except ProviderError as error:
        log.warning("Could not list the models of %s: %s", provider.base_url, error.message)
    if settings.OPENAI_MODEL:
        model, _ = LanguageModel.objects.get_or_create(
            provider=provider, name=settings.OPENAI_MODEL, defaults=family_fields(settings.OPENAI_MODEL)
        )
        set_default(model)
    return provider


def needs_local_model() -> bool:
    """The demo model starts only when no real provider is enabled."""
    if not settings.LOCAL_MODEL:
        return False
    return not Provider.objects.filter(enabled=True).exclude(managed=LOCAL).exists()


def register_local_model(base_url: str, api_key: str, model_name: str, label: str) -> Provider:
    provider, _ = Provider.objects.update_or_create(
        managed=LOCAL,
        defaults={"name": "Local demo (llama.cpp)", "base_url": base_url, "api_key": api_key, "enabled": True},
    )
    LanguageModel.objects.get_or_create(
        provider=provider, name=model_name, defaults={"label": label, **family_fields(model_name)}
    )
    ensure_default()
    return provider


def disable_local_model() -> None:
    Provider.objects.filter(managed=LOCAL).update(enabled=False)
