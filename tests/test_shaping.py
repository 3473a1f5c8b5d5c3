"""Request shaping (shaping.py): what goes into the upstream body, and the admin's policy over it."""

import pytest

from chatsite.chat.parameters import ParameterError, clean_parameters
from chatsite.providers.events import ProviderError
from chatsite.providers.shaping import build_body, shape_body, token_field_retry

MODEL = "openai/gpt-4o"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def test_build_body_merges_params_and_extra_but_never_over_model_messages_or_stream() -> None:
    body = build_body(
        MODEL,
        MESSAGES,
        {"temperature": 0.2, "max_tokens": 100},
        {"provider": {"order": ["azure"]}, "model": "x", "messages": [], "stream": False},
    )
    assert body == {
        "model": MODEL,
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "max_tokens": 100,
        "provider": {"order": ["azure"]},
    }


def test_only_a_400_that_names_the_length_field_is_retried_with_the_other() -> None:
    body = {"model": MODEL, "max_tokens": 9}
    named = ProviderError("bad_request", "The provider refused: Unsupported parameter: 'max_tokens'.", status=400)
    assert token_field_retry(body, named) == ({"model": MODEL, "max_completion_tokens": 9}, "max_completion_tokens")
    other = ProviderError("bad_request", "The provider refused: temperature is out of range.", status=400)
    assert token_field_retry(body, other) is None
    assert token_field_retry({"model": MODEL}, named) is None  # no limit was sent
    assert token_field_retry(body, ProviderError("server", "max_tokens broke us", status=500)) is None


HOSTILE = {
    "provider": {"data_collection": "allow"},
    "max_tokens": 999999999,
    "n_predict": -1,
    "ignore_eos": True,
    "user": "someone-else",
    "top_k": 40,
}


@pytest.mark.django_db
def test_a_users_extra_fields_never_override_the_admins_or_unbound_the_answer(model):
    model.provider.extra_body = {"provider": {"data_collection": "deny"}, "temperature": 0.1}
    model.max_output_tokens = 4096
    body = shape_body(model, MESSAGES, {"temperature": 1.5, "max_tokens": 200_000, "extra_body": HOSTILE})
    assert body["provider"] == {"data_collection": "deny"}  # the provider's fields win
    assert body["temperature"] == 0.1  # over the conversation's parameters too
    assert body["max_tokens"] == 4096  # clamped to the model's longest answer
    for reserved in ("n_predict", "ignore_eos", "user"):
        assert reserved not in body
    assert body["top_k"] == 40  # what the admin did not reserve still goes


@pytest.mark.django_db
def test_the_length_limit_is_clamped_after_merging_also_when_the_admin_set_it(model, settings):
    settings.CHAT_MAX_OUTPUT_TOKENS = 50_000
    model.max_output_tokens = None  # unknown: the global maximum applies
    model.provider.extra_body = {"max_tokens": 900_000}
    assert shape_body(model, MESSAGES, {})["max_tokens"] == 50_000
    model.provider.extra_body = {}
    assert shape_body(model, MESSAGES, {"max_tokens": 300})["max_tokens"] == 300
    assert "max_tokens" not in shape_body(model, MESSAGES, {})  # none asked: the provider's default


@pytest.mark.django_db
def test_the_settings_refuse_reserved_extra_fields_and_a_length_over_the_maximum(settings):
    settings.CHAT_MAX_OUTPUT_TOKENS = 128_000
    with pytest.raises(ParameterError, match="max_tokens must be between 1 and 128000"):
        clean_parameters({"max_tokens": 1_000_000})
    for key in ("max_tokens", "n_predict", "ignore_eos", "user", "model", "stream"):
        with pytest.raises(ParameterError, match=f"cannot set {key}"):
            clean_parameters({"extra_body": {key: 1}})
    assert clean_parameters({"extra_body": {"top_k": 40}}) == {"extra_body": {"top_k": 40}}


@pytest.mark.django_db
def test_the_o_series_get_the_system_prompt_as_a_developer_message_and_max_completion_tokens(provider):
    from chatsite.providers.models import LanguageModel

    o3 = LanguageModel.objects.create(provider=provider, name="openai/o3-mini")
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    body = shape_body(o3, messages, {"max_tokens": 100})
    assert body["messages"][0] == {"role": "developer", "content": "Be brief."}
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body


@pytest.mark.django_db
def test_presets_are_checked_as_conversations_are(alice, model):
    from django.test import Client

    from chatsite.chat.admin import PresetForm
    from chatsite.chat.models import Preset

    client = Client()
    client.force_login(alice)
    body = {"name": "Unbounded", "parameters": {"extra_body": {"max_tokens": 999999999, "user": "x"}}}
    answer = client.post("/presets/", body, content_type="application/json")
    assert answer.status_code == 400 and "cannot set max_tokens, user" in answer.json()["error"]
    form = PresetForm(data={"name": "Unbounded", "system_prompt": "", "parameters": '{"max_tokens": 1000000}'})
    assert not form.is_valid() and "max_tokens must be between 1 and" in str(form.errors)
    assert not Preset.objects.exists()
