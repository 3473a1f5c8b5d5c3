"""Providers and models: /models refresh, hand-added models, the default, extension fields."""

import pytest

from chatsite.chat.models import Conversation
from chatsite.providers import bootstrap
from chatsite.providers.catalog import refresh_models, set_default
from chatsite.providers.events import ProviderError
from chatsite.providers.models import LanguageModel, Provider
from tests.conftest import frames_until, is_done, logged_in_client, open_socket

pytestmark = pytest.mark.django_db


def test_models_are_fetched_from_the_provider_with_ids_unchanged(provider):
    added = refresh_models(provider)
    names = set(provider.models.values_list("name", flat=True))
    assert {"test/model-a", "test/model-b", "openai/gpt-4o"} <= names
    assert added == 2  # model-a already existed
    assert refresh_models(provider) == 0


def test_a_gateway_without_models_keeps_hand_added_ones_and_records_the_error(provider, upstream):
    upstream.models_status = 404
    with pytest.raises(ProviderError):
        refresh_models(provider)
    provider.refresh_from_db()
    assert provider.models_error
    assert list(provider.models.values_list("name", flat=True)) == ["test/model-a"]


def test_refresh_action_in_the_admin(provider, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="root-password-123")
    client = logged_in_client(root)
    response = client.post(
        "/admin/providers/provider/",
        {"action": "refresh_model_list", "_selected_action": [provider.pk]},
        follow=True,
    )
    assert "2 new models." in response.content.decode()
    assert provider.models.filter(name="openai/gpt-4o").exists()


def test_hidden_models_are_not_offered_and_one_default_at_a_time(provider, alice):
    refresh_models(provider)
    gpt = provider.models.get(name="openai/gpt-4o")
    set_default(gpt)
    assert list(LanguageModel.objects.filter(is_default=True)) == [gpt]
    provider.models.filter(name="test/model-b").update(hidden=True)
    page = logged_in_client(alice).get("/").content.decode()
    assert "openai/gpt-4o" in page
    assert "test/model-b" not in page


def test_disabled_provider_models_are_not_offered(provider, alice):
    provider.enabled = False
    provider.save()
    assert not LanguageModel.objects.usable().exists()
    conversation = Conversation.objects.create(owner=alice)
    response = logged_in_client(alice).post(
        f"/c/{conversation.code}/model/",
        {"model": str(provider.models.get().code)},
        content_type="application/json",
    )
    assert response.status_code == 400


def test_provider_from_the_environment(settings, upstream, db):
    settings.OPENAI_BASE_URL = upstream.base_url
    settings.OPENAI_API_KEY = "sk-env"
    settings.OPENAI_MODEL = "vendor/not-listed"
    provider = bootstrap.configure_env_provider()
    assert provider.api_key == "sk-env"
    assert provider.models.filter(name="openai/gpt-4o").exists()
    default = LanguageModel.objects.get(is_default=True)
    assert (default.provider, default.name) == (provider, "vendor/not-listed")
    assert not bootstrap.needs_local_model()


def test_demo_model_only_when_no_real_provider(settings, db):
    settings.LOCAL_MODEL = True
    assert bootstrap.needs_local_model()
    Provider.objects.create(name="Real", base_url="http://127.0.0.1:1/v1")
    assert not bootstrap.needs_local_model()


@pytest.mark.django_db(transaction=True)
async def test_extra_body_fields_reach_the_provider_but_cannot_override_the_request(alice, provider, model, upstream):
    provider.extra_body = {"provider": {"order": ["openai"], "allow_fallbacks": True}, "model": "evil", "stream": False}
    await provider.asave()
    conversation = await Conversation.objects.acreate(owner=alice, model=model)
    socket = await open_socket(alice)
    await socket.send_json_to({"type": "send", "conversation": str(conversation.code), "text": "hi"})
    await frames_until(socket, is_done)
    body = upstream.requests[-1]["json"]
    assert body["provider"] == {"order": ["openai"], "allow_fallbacks": True}
    assert body["model"] == "test/model-a"
    assert body["stream"] is True
    await socket.disconnect()


def test_admin_refuses_extra_body_that_sets_reserved_fields(provider, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="root-password-123")
    response = logged_in_client(root).post(
        f"/admin/providers/provider/{provider.pk}/change/",
        {
            "name": provider.name,
            "base_url": provider.base_url,
            "enabled": "on",
            "extra_body": '{"messages": []}',
            "models-TOTAL_FORMS": "0",
            "models-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "These fields are set by chatsite: messages." in response.content.decode()


def test_new_conversation_uses_the_picked_model(provider, alice):
    refresh_models(provider)
    gpt = provider.models.get(name="openai/gpt-4o")
    response = logged_in_client(alice).post("/c/new/", {"model": str(gpt.code)}, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["model"] == str(gpt.code)
    assert Conversation.objects.get(owner=alice).model == gpt
