"""What a conversation may send upstream besides its messages: allow-listed, range-checked.

The ranges are the providers' (seeds 000-003). Everything a browser sends goes through
clean_parameters; the result is stored on the conversation and merged into the request body by
providers/shaping.py, where the admin's policy wins over it.
"""

import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from chatsite.lib.text import TextRefused, check_value
from chatsite.providers.shaping import USER_RESERVED


@dataclass(frozen=True)
class Param:
    kind: type
    low: float
    high: float


NUMBERS = {
    "temperature": Param(float, 0, 2),
    "top_p": Param(float, 0, 1),
    "max_tokens": Param(int, 1, 0),  # the high end is CHAT_MAX_OUTPUT_TOKENS, read when checked
    "presence_penalty": Param(float, -2, 2),
    "frequency_penalty": Param(float, -2, 2),
    "seed": Param(int, -(2**53) + 1, 2**53 - 1),  # what a browser's numbers hold exactly
    "top_logprobs": Param(int, 0, 20),
}
REASONING_EFFORTS = ("low", "medium", "high")
SEARCH_CONTEXT_SIZES = ("low", "medium", "high")
LOCATION_FIELDS = ("country", "city", "region", "timezone")
MAX_LOCATION_CHARS = 100
COUNTRY = re.compile(r"^[A-Za-z]{2}$")  # an ISO 3166-1 two-letter code
TIMEZONE = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")  # an IANA name such as America/Los_Angeles
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 200
MAX_EXTRA_BYTES = 16 * 1024
MAX_SCHEMA_BYTES = 8 * 1024
MAX_SCHEMA_DEPTH = 32  # objects and lists inside each other: about 15 levels of nested properties
SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Extra body fields may not take over what chatsite or the admin controls (shaping.py).
RESERVED = USER_RESERVED


class ParameterError(ValueError):
    pass


def clean_parameters(raw: object) -> dict:
    """Return only known parameters, type- and range-checked; raise ParameterError otherwise."""
    if not isinstance(raw, dict):
        raise ParameterError(gettext("Parameters must be an object."))
    try:
        raw = check_value(raw, gettext("A parameter"))
    except TextRefused as error:
        raise ParameterError(error.message) from None
    cleaned: dict = {}
    for key, value in raw.items():
        if value is None or value == "" or value == []:
            continue  # not set: the provider's default
        if key in NUMBERS:
            cleaned[key] = _number(key, value, NUMBERS[key])
        elif key in CLEANERS:
            cleaned[key] = CLEANERS[key](value)
        else:
            raise ParameterError(gettext("Unknown parameter %(name)s.") % {"name": repr(str(key)[:40])})
    if "top_logprobs" in cleaned and not cleaned.get("logprobs"):
        raise ParameterError(gettext("top_logprobs needs logprobs switched on."))
    if cleaned.get("logprobs") is False:
        del cleaned["logprobs"]  # false is the default: nothing to send
    return cleaned


def _number(key: str, value: object, spec: Param) -> int | float:
    # bool is an int subclass: refuse it explicitly.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(gettext("%(name)s must be a number.") % {"name": key})
    if spec.kind is int and value != int(value):
        raise ParameterError(gettext("%(name)s must be a whole number.") % {"name": key})
    high = settings.CHAT_MAX_OUTPUT_TOKENS if key == "max_tokens" else spec.high
    if not spec.low <= value <= high:
        raise ParameterError(
            gettext("%(name)s must be between %(low)s and %(high)s.")
            % {"name": key, "low": f"{spec.low:g}", "high": f"{high:g}"}
        )
    return spec.kind(value)


def _stop(value: object) -> str | list[str]:
    sequences = [value] if isinstance(value, str) else value
    if not isinstance(sequences, list) or not all(isinstance(s, str) and s for s in sequences):
        raise ParameterError(gettext("stop must be a text or a list of texts."))
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise ParameterError(gettext("At most %(count)s stop sequences.") % {"count": MAX_STOP_SEQUENCES})
    if any(len(s) > MAX_STOP_CHARS for s in sequences):
        raise ParameterError(gettext("A stop sequence is at most %(count)s characters.") % {"count": MAX_STOP_CHARS})
    return value if isinstance(value, str) else sequences


def _reasoning_effort(value: object) -> str:
    if value not in REASONING_EFFORTS:
        raise ParameterError(
            gettext("reasoning_effort must be one of %(values)s.") % {"values": ", ".join(REASONING_EFFORTS)}
        )
    return value


def _logprobs(value: object) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(gettext("logprobs must be true or false."))
    return value


def _response_format(value: object) -> dict:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object") and set(value) == {"type"}:
        return {"type": kind}
    if kind != "json_schema":
        raise ParameterError(gettext("response_format must be text, json_object or json_schema."))
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or set(spec) - {"name", "schema", "strict", "description"}:
        raise ParameterError(gettext("json_schema must be an object with a name and a schema."))
    name = spec.get("name")
    if not isinstance(name, str) or not SCHEMA_NAME.match(name):
        raise ParameterError(gettext("The schema name must be 1-64 letters, digits, _ or -."))
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise ParameterError(gettext("The schema must be a JSON object."))
    # Before checking it: every answer is checked against it (in a sandbox, structured.py).
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        raise ParameterError(
            gettext("The schema nests objects and lists more than %(count)s deep.") % {"count": MAX_SCHEMA_DEPTH}
        )
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise ParameterError(gettext("The schema is larger than %(size)s KB.") % {"size": MAX_SCHEMA_BYTES // 1024})
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(map(str, error.path)) or gettext("the top level")
        raise ParameterError(
            gettext("The schema is not valid JSON Schema at %(where)s: %(error)s")
            % {"where": where, "error": error.message[:200]}
        ) from None
    if "strict" in spec and not isinstance(spec["strict"], bool):
        raise ParameterError(gettext("strict must be true or false."))
    _check_size(value, gettext("The response format"))
    return {"type": "json_schema", "json_schema": spec}


def _depth(value: object) -> int:
    """How deep objects and lists nest in a JSON value (1 for a flat object); without recursion,
    so a deep value cannot overflow the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_SCHEMA_DEPTH:
                break
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _web_search_options(value: object) -> dict:
    """Web search for models that offer it: {} searches with the provider's defaults."""
    if not isinstance(value, dict) or set(value) - {"search_context_size", "user_location"}:
        raise ParameterError(gettext("web_search_options may have search_context_size and user_location."))
    cleaned: dict = {}
    size = value.get("search_context_size")
    if size not in (None, ""):
        if size not in SEARCH_CONTEXT_SIZES:
            raise ParameterError(
                gettext("search_context_size must be one of %(values)s.") % {"values": ", ".join(SEARCH_CONTEXT_SIZES)}
            )
        cleaned["search_context_size"] = size
    location = value.get("user_location")
    if location is not None:
        if (
            not isinstance(location, dict)
            or location.get("type") != "approximate"
            or set(location) - {"type", "approximate"}
            or not isinstance(location.get("approximate"), dict)
        ):
            raise ParameterError(gettext('user_location must be {"type": "approximate", "approximate": {...}}.'))
        approximate = _approximate_location(location["approximate"])
        if approximate:
            cleaned["user_location"] = {"type": "approximate", "approximate": approximate}
    return cleaned


def _approximate_location(place: dict) -> dict:
    unknown = sorted(set(place) - set(LOCATION_FIELDS))
    if unknown:
        raise ParameterError(gettext("user_location has no field %(name)s.") % {"name": repr(str(unknown[0])[:40])})
    cleaned = {}
    for key in LOCATION_FIELDS:
        text = place.get(key)
        if text in (None, ""):
            continue
        if not isinstance(text, str) or len(text) > MAX_LOCATION_CHARS or not text.strip():
            raise ParameterError(
                gettext("The location's %(name)s must be a text of at most %(count)s characters.")
                % {"name": key, "count": MAX_LOCATION_CHARS}
            )
        if key == "country" and not COUNTRY.match(text):
            raise ParameterError(gettext("The location's country must be a two-letter code such as US."))
        if key == "timezone" and not TIMEZONE.match(text):
            raise ParameterError(gettext("The location's timezone must be an IANA name such as America/Los_Angeles."))
        cleaned[key] = text.strip().upper() if key == "country" else text.strip()
    return cleaned


def _extra_body(value: object) -> dict:
    """Provider extensions (e.g. OfoxAI's "provider" routing object), as a JSON object."""
    if not isinstance(value, dict):
        raise ParameterError(gettext("Extra body fields must be a JSON object."))
    taken = sorted(RESERVED.intersection(value))
    if taken:
        raise ParameterError(gettext("Extra body fields cannot set %(names)s.") % {"names": ", ".join(taken)})
    _check_size(value, gettext("Extra body fields"))
    return value


def _check_size(value: object, what: str) -> None:
    if len(json.dumps(value)) > MAX_EXTRA_BYTES:
        raise ParameterError(
            gettext("%(what)s are larger than %(size)s KB.") % {"what": what, "size": MAX_EXTRA_BYTES // 1024}
        )


CLEANERS = {
    "stop": _stop,
    "reasoning_effort": _reasoning_effort,
    "logprobs": _logprobs,
    "response_format": _response_format,
    "web_search_options": _web_search_options,
    "extra_body": _extra_body,
}
