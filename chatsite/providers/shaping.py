"""Everything that decides a Chat Completions request body, in one place.

What a conversation asks for (its range-checked parameters and extra fields, chat/parameters.py),
what the provider's admin set (its extra fields), what the model can take and needs (abilities,
the families' quirks: the system prompt's role, the length limit's field) and the tools it may
call meet here. The admin's policy wins: a provider's extra fields are applied last, users'
extra fields never set chatsite's own fields, a length limit or anything the provider sets, and
the length limit is clamped to what the model can write.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from chatsite.providers.events import ProviderError
from chatsite.providers.families import system_role, token_field
from chatsite.providers.models import LanguageModel

LENGTH_FIELDS = ("max_tokens", "max_completion_tokens")
# The body fields chatsite sets itself: no extra field changes them.
OWN_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "n", "tools"})
# What a user's extra fields may not set either: the length of an answer, in any server's
# spelling, or its unbounding (llama.cpp, Ollama, TGI), and whom the provider bills or tracks.
USER_RESERVED = OWN_FIELDS | {
    *LENGTH_FIELDS,
    "max_output_tokens",
    "max_new_tokens",
    "n_predict",
    "num_predict",
    "ignore_eos",
    "user",
}
# Stored parameters a model without the ability would refuse (a strict provider fails the
# whole request): left out when the conversation moves to such a model; the settings panel says why.
NEEDS_ABILITY = {
    "web_search_options": "web_search",
    "logprobs": "logprobs",
    "top_logprobs": "logprobs",
    "reasoning_effort": "reasoning",
    "response_format": "json",
}


def shape_body(model: LanguageModel, messages: list[dict], parameters: dict, tools: list[dict] = ()) -> dict:
    """The streaming request body for this model: messages (the first may be the system prompt),
    the conversation's parameters (with their "extra_body"), the tools' definitions."""
    params = dict(parameters)
    provider_extra = model.provider.extra_body or {}
    user_extra = {
        key: value
        for key, value in (params.pop("extra_body", None) or {}).items()
        if key not in USER_RESERVED and key not in provider_extra
    }
    for name, ability in NEEDS_ABILITY.items():
        if name in params and not getattr(model, ability):
            del params[name]
    # Later wins: a user's free-form fields, their checked parameters, the admin's fields.
    body = build_body(model.name, _system_role(model, messages), {**user_extra, **params}, provider_extra)
    _one_length_field(body, model)
    if tools:
        body["tools"] = list(tools)
    else:
        # A tool_choice from the extra fields means nothing without tools (and is refused).
        body.pop("tool_choice", None)
        body.pop("parallel_tool_calls", None)
    return body


def build_body(
    model: str,
    messages: list[dict],
    params: dict | None = None,
    extra: dict | None = None,
) -> dict:
    """The JSON body of a streaming Chat Completions request.

    params are the sampling parameters (temperature, max_tokens, ...); extra holds provider
    extensions such as OfoxAI's "provider" routing object. Neither can change the model, the
    messages or streaming, since the rest of the app depends on those.
    """
    body: dict[str, Any] = {
        "model": model,  # untouched: vendor-prefixed ids like "openai/gpt-4o" must pass through
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for more in (params, extra):
        if more:
            body.update(more)
    body["model"] = model
    body["messages"] = messages
    body["stream"] = True
    return body


def next_round(body: dict, messages: list[dict]) -> dict:
    """The request after a round of tool calls: the same, with the calls and their results added."""
    body = {**body, "messages": [*body["messages"], *messages]}
    if body.get("tool_choice") not in (None, "auto", "none"):
        # "required" (or one named function) asks for a call; having made it, the model must be
        # free to answer, or it would call tools until the round limit.
        body["tool_choice"] = "auto"
    return body


def token_field_retry(body: dict, error: ProviderError) -> tuple[dict, str] | None:
    """When a provider refused the length limit's field by name (a 400 such as "Unsupported
    parameter: 'max_tokens' ... use 'max_completion_tokens'"), the body with the other field,
    and that field's name; otherwise None."""
    if error.status != 400:
        return None
    for sent, other in (("max_tokens", "max_completion_tokens"), ("max_completion_tokens", "max_tokens")):
        if sent in body and other not in body and re.search(rf"\b{sent}\b", error.message):
            retry = {key: value for key, value in body.items() if key != sent}
            retry[other] = body[sent]
            return retry, other
    return None


def _system_role(model: LanguageModel, messages: list[dict]) -> list[dict]:
    """The o-series want the system prompt as a "developer" message."""
    if messages and messages[0].get("role") == "system" and system_role(model.name) != "system":
        return [{**messages[0], "role": system_role(model.name)}, *messages[1:]]
    return messages


def _one_length_field(body: dict, model: LanguageModel) -> None:
    """The length limit, wherever it came from, in the one field this model takes, and no more
    than the model can write (above it a provider refuses the request) or CHAT_MAX_OUTPUT_TOKENS
    when the model's limit is unknown."""
    asked = [body.pop(name) for name in LENGTH_FIELDS if name in body]
    limits = [value for value in asked if isinstance(value, int) and not isinstance(value, bool) and value > 0]
    if limits:
        ceiling = model.max_output_tokens or settings.CHAT_MAX_OUTPUT_TOKENS
        body[token_field(model.name, model.token_field)] = min(*limits, ceiling)
