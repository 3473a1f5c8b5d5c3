"""Keeps each provider's model list in step with its `GET /models`."""

import asyncio

from django.db import transaction
from django.utils import timezone

from chatsite.providers.client import list_models
from chatsite.providers.events import ProviderError
from chatsite.providers.families import known_abilities
from chatsite.providers.models import ABILITY_FIELDS, LanguageModel, Provider

# supported_parameters (OpenRouter style) -> the ability each one shows.
PARAMETER_ABILITIES = {
    "tools": ("tools",),
    "reasoning": ("reasoning", "include_reasoning", "reasoning_effort"),
    "json": ("response_format", "structured_outputs"),
    "logprobs": ("logprobs", "top_logprobs"),
    "web_search": ("web_search_options",),
}


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def abilities_from_listing(item: dict) -> dict:
    """A model's abilities: the family table's, corrected by whatever its GET /models entry says.

    Gateways describe models in different words: OpenRouter style `architecture`,
    `supported_parameters`, `context_length` and `top_provider`; vLLM `max_model_len`;
    llama.cpp `meta.n_ctx_train`. Where an entry says nothing, the table stands.
    """
    abilities = known_abilities(str(item.get("id", "")))
    architecture = item.get("architecture") if isinstance(item.get("architecture"), dict) else {}
    inputs = architecture.get("input_modalities")
    if not isinstance(inputs, list) and isinstance(architecture.get("modality"), str):
        inputs = architecture["modality"].split("->")[0].split("+")  # older form: "text+image->text"
    if isinstance(inputs, list):
        abilities.update(vision="image" in inputs, audio="audio" in inputs, files="file" in inputs)
    parameters = item.get("supported_parameters")
    if isinstance(parameters, list):
        for ability, names in PARAMETER_ABILITIES.items():
            abilities[ability] = any(name in parameters for name in names)
    top = item.get("top_provider") if isinstance(item.get("top_provider"), dict) else {}
    meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
    context = (
        _positive(item.get("context_length"))
        or _positive(top.get("context_length"))
        or _positive(item.get("max_model_len"))
        or _positive(meta.get("n_ctx_train"))
    )
    if context:
        abilities["context_length"] = context
    output = _positive(top.get("max_completion_tokens")) or _positive(item.get("max_completion_tokens"))
    if output:
        abilities["max_output"] = output
    return abilities


def family_fields(name: str) -> dict:
    """Field values for a model added by hand (no GET /models entry): the family table's."""
    model = LanguageModel()
    model.set_abilities(known_abilities(name))
    return {field: getattr(model, field) for field in ABILITY_FIELDS}


def refresh_models(provider: Provider) -> int:
    """Fetch the provider's models, store new ones and bring the abilities of known ones up to
    date; returns how many were added.

    Models an admin added by hand, hid or relabelled are kept as they are, and abilities an
    admin set (abilities_by_hand) too; a gateway with no /models simply records the error and
    keeps its hand-added models.
    """
    try:
        listed = asyncio.run(list_models(provider.base_url, provider.api_key))
    except ProviderError as error:
        provider.models_error = error.message[:500]
        provider.save(update_fields=["models_error"])
        raise
    entries = {str(item["id"])[:200]: item for item in listed if isinstance(item, dict) and item.get("id")}
    with transaction.atomic():
        known = {model.name: model for model in provider.models.all()}
        new = []
        for name in sorted(entries):
            model = known.get(name) or LanguageModel(provider=provider, name=name, added_by_hand=False)
            if name not in known:
                new.append(model)
            elif model.abilities_by_hand:
                continue
            model.set_abilities(abilities_from_listing(entries[name]))
        LanguageModel.objects.bulk_create(new)
        LanguageModel.objects.bulk_update(
            [model for name, model in known.items() if name in entries and not model.abilities_by_hand],
            list(ABILITY_FIELDS),
        )
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
