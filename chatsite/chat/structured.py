"""Answers asked for as JSON (response_format json_object or json_schema): checked when done."""

import json

from jsonschema import Draft202012Validator


def check_json_answer(body: dict, text: str) -> str:
    """ "" when the request did not ask for JSON; "valid"; or why the answer is not what was asked."""
    response_format = body.get("response_format") or {}
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return ""
    try:
        value = json.loads(text)
    except ValueError as error:
        return f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
    if kind == "json_object":
        return "valid" if isinstance(value, dict) else "Not a JSON object."
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    error = next(iter(Draft202012Validator(schema).iter_errors(value)), None)
    if error is None:
        return "valid"
    where = "/".join(map(str, error.absolute_path)) or "the top level"
    return f"Does not match the schema at {where}: {error.message[:200]}"
