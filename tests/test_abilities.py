"""Model abilities: read from GET /models, else the family table, kept when an admin edits them,
and offered to the page."""

import json
import re

import pytest

from chatsite.providers.catalog import abilities_from_listing, refresh_models
from chatsite.providers.families import known_abilities
from chatsite.providers.models import LanguageModel
from tests.conftest import logged_in_client

pytestmark = pytest.mark.django_db

KEYS = {
    "vision",
    "tools",
    "reasoning",
    "json",
    "logprobs",
    "audio",
    "files",
    "web_search",
    "context_length",
    "max_output",
}


def test_refresh_reads_what_an_openrouter_style_list_says(provider):
    refresh_models(provider)
    a = provider.models.get(name="test/model-a").abilities()
    assert a == {
        "vision": True,
        "tools": True,
        "reasoning": False,
        "json": True,
        "logprobs": True,
        "audio": True,
        "files": True,
        "web_search": True,
        "context_length": 32768,
        "max_output": 4096,
    }
    b = provider.models.get(name="test/model-b").abilities()
    assert (b["vision"], b["files"], b["audio"], b["tools"], b["reasoning"], b["json"]) == (
        False,
        False,
        False,
        False,
        True,
        False,
    )
    assert b["context_length"] == 8192 and b["max_output"] is None


def test_a_model_listed_by_id_alone_gets_its_familys_abilities(provider):
    refresh_models(provider)
    gpt = provider.models.get(name="openai/gpt-4o").abilities()
    assert gpt["vision"] and gpt["files"] and gpt["context_length"] == 128_000 and gpt["max_output"] == 16_384


@pytest.mark.parametrize(
    ("name", "vision", "reasoning", "context"),
    [
        ("gpt-4o", True, False, 128_000),
        ("openai/gpt-5-mini", True, True, 400_000),
        ("o3-mini", False, True, 128_000),
        ("openai/o3", True, True, 200_000),
        ("anthropic/claude-sonnet-4.5", True, True, 200_000),
        ("google/gemini-3-flash-preview", True, True, 1_048_576),
        ("qwen/qwen2.5-vl-72b-instruct", True, False, 131_072),
        ("qwen-max", False, False, 131_072),
        ("deepseek-reasoner", False, True, 128_000),
        ("deepseek/deepseek-chat", False, False, 128_000),
        ("meta-llama/llama-3.1-8b-instruct", False, False, 131_072),
        ("mistralai/mistral-large", False, False, 131_072),
        ("SmolLM2-135M-Instruct", False, False, 8_192),
    ],
)
def test_family_table_matches_with_or_without_vendor_prefix(name, vision, reasoning, context):
    abilities = known_abilities(name)
    assert (abilities["vision"], abilities["reasoning"], abilities["context_length"]) == (vision, reasoning, context)


def test_an_unknown_model_may_take_images_but_no_audio_files_or_web_search():
    abilities = known_abilities("acme/brand-new-model")
    assert abilities["vision"] and abilities["tools"] and not abilities["audio"]
    assert not abilities["files"] and not abilities["web_search"] and abilities["context_length"] is None


def test_local_servers_say_their_context_in_their_own_words():
    assert abilities_from_listing({"id": "my-model", "max_model_len": 16384})["context_length"] == 16384  # vLLM
    llama = {"id": "model.gguf", "meta": {"n_ctx_train": 8192, "n_vocab": 49152}}  # llama.cpp
    assert abilities_from_listing(llama)["context_length"] == 8192
    older = {"id": "x/y", "architecture": {"modality": "text+image->text"}}
    assert abilities_from_listing(older)["vision"] is True
    assert abilities_from_listing({"id": "x/y", "context_length": "lots"})["context_length"] is None


def test_refresh_updates_abilities_of_known_models_but_not_those_an_admin_set(provider, upstream):
    refresh_models(provider)
    upstream.models[0]["context_length"] = 65536
    upstream.models[1]["architecture"] = {"input_modalities": ["text", "image"]}
    provider.models.filter(name="test/model-b").update(vision=False, context_length=1000, abilities_by_hand=True)
    refresh_models(provider)
    assert provider.models.get(name="test/model-a").context_length == 65536
    b = provider.models.get(name="test/model-b")
    assert (b.vision, b.context_length) == (False, 1000)


def _admin(django_user_model):
    root = django_user_model.objects.create_superuser("root", password="root-password-123")
    return logged_in_client(root)


def _form(model: LanguageModel, **changes) -> dict:
    data = {
        "provider": model.provider_id,
        "name": model.name,
        "label": model.label,
        "token_field": model.token_field,
        "context_length": model.context_length or "",
        "max_output_tokens": model.max_output_tokens or "",
    }
    for flag in (
        "hidden",
        "is_default",
        "added_by_hand",
        "vision",
        "tools",
        "reasoning",
        "json",
        "logprobs",
        "audio",
        "files",
        "web_search",
        "abilities_by_hand",
    ):
        if getattr(model, flag):
            data[flag] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}


def test_an_admins_edit_of_the_abilities_survives_a_refresh(provider, django_user_model):
    refresh_models(provider)
    client = _admin(django_user_model)
    model = provider.models.get(name="test/model-a")
    response = client.post(f"/admin/providers/languagemodel/{model.pk}/change/", _form(model, vision=False))
    assert response.status_code == 302, response.content.decode()[:2000]
    model.refresh_from_db()
    assert model.abilities_by_hand and not model.vision
    refresh_models(provider)
    model.refresh_from_db()
    assert not model.vision and model.context_length == 32768


def test_a_model_added_by_hand_in_the_admin_gets_its_familys_abilities(provider, django_user_model):
    client = _admin(django_user_model)
    response = client.post(
        "/admin/providers/languagemodel/add/", _form(LanguageModel(provider=provider, name="deepseek-reasoner"))
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    model = provider.models.get(name="deepseek-reasoner")
    assert model.reasoning and not model.vision and model.context_length == 128_000
    assert not model.abilities_by_hand


def test_the_page_offers_each_models_abilities(provider, alice):
    refresh_models(provider)
    page = logged_in_client(alice).get("/").content.decode()
    config = json.loads(re.search(r'id="chat-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    models = {m["label"]: m["abilities"] for m in config["models"]}
    assert set(models["test/model-b"]) == KEYS
    assert models["test/model-b"]["vision"] is False and models["test/model-a"]["max_output"] == 4096


@pytest.mark.django_db
def test_a_length_limit_above_the_models_largest_answer_is_sent_as_that(provider):
    from chatsite.providers.shaping import shape_body as request_body

    refresh_models(provider)
    model = provider.models.get(name="test/model-a")  # its /models entry: at most 4,096 tokens
    messages = [{"role": "user", "content": "Hi"}]
    assert request_body(model, messages, {"max_tokens": 100_000})["max_tokens"] == 4096
    assert request_body(model, messages, {"max_tokens": 300})["max_tokens"] == 300
    model.max_output_tokens = None
    assert request_body(model, messages, {"max_tokens": 100_000})["max_tokens"] == 100_000
