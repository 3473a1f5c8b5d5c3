"""Providers the app configures itself: one from OPENAI_BASE_URL, and the bundled demo model."""

import logging
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils.translation import gettext, gettext_noop

from chatsite.providers import localmodel
from chatsite.providers.catalog import ensure_default, family_fields, refresh_models, set_default
from chatsite.providers.events import ProviderError
from chatsite.providers.models import LanguageModel, Provider

log = logging.getLogger(__name__)

ENV = "env"
LOCAL = "local"
# Shown while the supervisor restarts the demo model (kept in the row's models_error, which
# is what the admin's list shows for a provider in trouble).
# Stored as the provider's models_error (and so compared) in English; said in the reader's language.
LOCAL_RESTARTING = gettext_noop("The demo model is restarting; try again in a moment.")


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
        defaults={
            "name": "Local demo (llama.cpp)",
            "base_url": base_url,
            "api_key": api_key,
            "enabled": True,
            "models_error": "",
        },
    )
    LanguageModel.objects.get_or_create(
        provider=provider, name=model_name, defaults={"label": label, **family_fields(model_name)}
    )
    ensure_default()
    return provider


def disable_local_model() -> None:
    Provider.objects.filter(managed=LOCAL).update(enabled=False)


def mark_local_model_down() -> None:
    Provider.objects.filter(managed=LOCAL).update(models_error=LOCAL_RESTARTING)


def localmodel_down_reason(provider: Provider) -> str | None:
    """What to tell a user who sends to this provider's model while the demo model restarts;
    None when nothing stops the send."""
    if provider.managed == LOCAL and provider.models_error == LOCAL_RESTARTING:
        return gettext(LOCAL_RESTARTING)
    return None


def start_local_model(log_path: Path | None = None) -> localmodel.Supervisor:
    """Start the demo model, register it as the managed provider and keep it running: while
    it restarts the row is marked down, and it gets the new base URL when it is back."""
    server = localmodel.LocalModelServer(log_path=log_path)
    base_url = server.start()
    register_local_model(base_url, server.api_key, localmodel.MODEL_NAME, localmodel.LABEL)

    def on_up(base_url: str) -> None:
        try:
            register_local_model(base_url, server.api_key, localmodel.MODEL_NAME, localmodel.LABEL)
        finally:
            connections.close_all()  # the supervisor's thread keeps no connection while it waits

    def on_down(code: int) -> None:
        try:
            mark_local_model_down()
        finally:
            connections.close_all()

    supervisor = localmodel.Supervisor(server, on_up=on_up, on_down=on_down)
    supervisor.watch()
    return supervisor
