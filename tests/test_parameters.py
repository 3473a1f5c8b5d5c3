"""Conversation settings: what the panel may send, with the seeds' ranges and clear errors."""

import pytest
from asgiref.sync import sync_to_async

from chatsite.chat.models import Conversation
from chatsite.chat.parameters import ParameterError, clean_parameters
from tests.conftest import frames_until, is_done, logged_in_client, open_socket

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_every_parameter_of_the_panel_is_kept_as_sent():
    raw = {
        "temperature": 0.7,
        "top_p": 1,
        "max_tokens": 256,
        "presence_penalty": -0.5,
        "frequency_penalty": 2,
        "seed": 42,
        "stop": ["END", "\n\n"],
        "reasoning_effort": "low",
        "logprobs": True,
        "top_logprobs": 3,
        "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA, "strict": True}},
        "extra_body": {"provider": {"sort": "latency"}},
    }
    assert clean_parameters(raw) == {**raw, "top_p": 1.0, "frequency_penalty": 2.0}
    assert clean_parameters({"temperature": None, "stop": [], "seed": ""}) == {}  # empty: the default
    assert clean_parameters({"response_format": {"type": "json_object"}}) == {
        "response_format": {"type": "json_object"}
    }


def test_web_search_options_are_kept_checked_and_trimmed():
    place = {"country": "gb", "city": " London ", "region": "", "timezone": "Europe/London"}
    raw = {"search_context_size": "high", "user_location": {"type": "approximate", "approximate": place}}
    assert clean_parameters({"web_search_options": raw}) == {
        "web_search_options": {
            "search_context_size": "high",
            "user_location": {
                "type": "approximate",
                "approximate": {"country": "GB", "city": "London", "timezone": "Europe/London"},
            },
        }
    }
    # {} searches with the provider's defaults; an empty location is no location.
    assert clean_parameters({"web_search_options": {}}) == {"web_search_options": {}}
    empty = {"search_context_size": "", "user_location": {"type": "approximate", "approximate": {"city": ""}}}
    assert clean_parameters({"web_search_options": empty}) == {"web_search_options": {}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"temperature": 2.5}, "temperature must be between 0 and 2."),
        ({"top_logprobs": 21, "logprobs": True}, "top_logprobs must be between 0 and 20."),
        ({"top_logprobs": 2}, "top_logprobs needs logprobs switched on."),
        ({"seed": 1.5}, "seed must be a whole number."),
        ({"seed": True}, "seed must be a number."),
        ({"stop": ["a", "b", "c", "d", "e"]}, "At most 4 stop sequences."),
        ({"stop": [""]}, "stop must be a text or a list of texts."),
        ({"reasoning_effort": "max"}, "reasoning_effort must be one of low, medium, high."),
        ({"logprobs": "yes"}, "logprobs must be true or false."),
        ({"response_format": {"type": "xml"}}, "response_format must be text, json_object or json_schema."),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "bad name!", "schema": SCHEMA}}},
            "The schema name must be 1-64 letters, digits, _ or -.",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objekt"}}}},
            "The schema is not valid JSON Schema at type:",
        ),
        ({"extra_body": {"model": "gpt-5"}}, "Extra body fields cannot set model."),
        ({"extra_body": ["x"]}, "Extra body fields must be a JSON object."),
        ({"base_url": "http://evil"}, "Unknown parameter 'base_url'."),
        ({"web_search_options": True}, "web_search_options may have search_context_size and user_location."),
        ({"web_search_options": {"engine": "x"}}, "web_search_options may have"),
        ({"web_search_options": {"search_context_size": "huge"}}, "search_context_size must be one of low,"),
        ({"web_search_options": {"user_location": {"city": "Paris"}}}, "user_location must be {"),
        (
            {"web_search_options": {"user_location": {"type": "approximate", "approximate": {"street": "x"}}}},
            "user_location has no field 'street'.",
        ),
        (
            {"web_search_options": {"user_location": {"type": "approximate", "approximate": {"city": "x" * 101}}}},
            "The location's city must be a text of at most 100 characters.",
        ),
        (
            {"web_search_options": {"user_location": {"type": "approximate", "approximate": {"country": "USA"}}}},
            "The location's country must be a two-letter code",
        ),
        (
            {"web_search_options": {"user_location": {"type": "approximate", "approximate": {"timezone": "a b"}}}},
            "The location's timezone must be an IANA name",
        ),
    ],
)
def test_a_bad_value_is_refused_with_a_message_that_says_why(raw, message):
    with pytest.raises(ParameterError) as caught:
        clean_parameters(raw)
    assert str(caught.value).startswith(message)


def schema_format(schema: dict) -> dict:
    return {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}}


def nested(levels: int) -> dict:
    """An object whose one property is an object whose one property… `levels` deep, then a string."""
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"next": schema}}
    return schema


def test_a_schema_deeper_or_larger_than_its_caps_is_refused_with_the_cap():
    # Every answer is checked against the schema, so it has caps of its own, below the 16 KB
    # of the whole value: 15 levels of properties (31 objects deep) are fine, 16 are not.
    assert clean_parameters(schema_format(nested(15))) == schema_format(nested(15))
    with pytest.raises(ParameterError) as caught:
        clean_parameters(schema_format(nested(16)))
    assert str(caught.value) == "The schema nests objects and lists more than 32 deep."
    with pytest.raises(ParameterError) as caught:
        clean_parameters(schema_format({"type": "object", "description": "x" * 9000}))
    assert str(caught.value) == "The schema is larger than 8 KB."


@pytest.mark.django_db(transaction=True)
async def test_saved_settings_reach_the_provider_and_extra_fields_cannot_take_it_over(alice, model, upstream):
    conversation = await Conversation.objects.acreate(owner=alice, model=model)
    settings = {
        "system_prompt": "Answer in JSON.",
        "parameters": {
            "seed": 7,
            "stop": ["END"],
            "response_format": {"type": "json_object"},
            "extra_body": {"provider": {"sort": "latency"}},
        },
    }
    client = await sync_to_async(logged_in_client)(alice)
    response = await sync_to_async(client.post)(
        f"/c/{conversation.code}/options/", settings, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["parameters"] == settings["parameters"]

    socket = await open_socket(alice)
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": "Where?"})
    await frames_until(socket, is_done)
    sent = upstream.requests[-1]["json"]
    assert (sent["seed"], sent["stop"], sent["response_format"]) == (7, ["END"], {"type": "json_object"})
    assert sent["provider"] == {"sort": "latency"}
    assert "extra_body" not in sent
    assert sent["messages"][0] == {"role": "system", "content": "Answer in JSON."}
    assert (sent["model"], sent["stream"]) == ("test/model-a", True)
    await socket.disconnect()


@pytest.mark.parametrize(
    ("name", "role", "field"),
    [
        ("o1", "developer", "max_completion_tokens"),
        ("openai/o3-mini", "developer", "max_completion_tokens"),
        ("o4-mini-2025-04-16", "developer", "max_completion_tokens"),
        ("gpt-4o", "system", "max_tokens"),
        ("openai/gpt-4o", "system", "max_tokens"),
        ("ollama/llama3.1", "system", "max_tokens"),
        ("qwen/qwq-32b", "system", "max_tokens"),
    ],
)
def test_model_families_get_the_system_role_and_length_field_they_want(name, role, field):
    from chatsite.providers.families import system_role, token_field

    assert (system_role(name), token_field(name)) == (role, field)
    assert token_field(name, learned="max_tokens") == "max_tokens"  # what was seen to work wins


@pytest.mark.django_db
def test_a_team_preset_is_saved_checked_and_offered_to_everyone(alice, bob, model):
    client = logged_in_client(alice)
    preset = {
        "name": "Terse",
        "system_prompt": "Be terse.",
        "parameters": {"temperature": 0.1},
        "model": str(model.code),
    }
    response = client.post("/presets/", preset, content_type="application/json")
    assert response.status_code == 201
    saved = response.json()
    assert (saved["name"], saved["system_prompt"], saved["parameters"], saved["model"]) == (
        "Terse",
        "Be terse.",
        {"temperature": 0.1},
        str(model.code),
    )
    for bad, message in [
        ({**preset, "name": "Hot", "parameters": {"temperature": 9}}, "temperature must be between 0 and 2."),
        ({**preset, "name": " "}, "Give the preset a name of at most 100 characters."),
        (preset, "A preset with that name exists already."),
        ({**preset, "name": "Ghost", "model": "00000000-0000-0000-0000-000000000000"}, "That model is not available."),
    ]:
        response = client.post("/presets/", bad, content_type="application/json")
        assert (response.status_code, response.json()["error"]) == (400, message)

    # Bob's page offers it.
    page = logged_in_client(bob).get("/")
    assert page.context["config"]["presets"] == [saved]
