"""Answers asked for as JSON (response_format json_object or json_schema): checked when done.

A schema comes from a user, and its `pattern`s can backtrack for hours (`^(a+)+$`); Python's
`re` holds the GIL while it matches, so no thread would keep the server going. The schema check
runs in a sandbox child (chatsite/lib/sandbox.py), stopped after SCHEMA_SECONDS.
"""

import json

from django.utils.translation import gettext, gettext_lazy
from jsonschema import Draft202012Validator

from chatsite.lib import sandbox

SCHEMA_SECONDS = 3.0
SCHEMA_MEMORY_MB = 256
NOT_IN_TIME = gettext_lazy("Not checked: checking the answer against the schema took longer than %(seconds)s s.")


def check_json_answer(body: dict, text: str) -> str:
    """ "" when the request did not ask for JSON; "valid"; or why the answer is not what was asked.

    Blocks for up to SCHEMA_SECONDS on a json_schema: call it in a worker thread."""
    response_format = body.get("response_format") or {}
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return ""
    try:
        value = json.loads(text)
    except ValueError as error:
        return gettext("Not valid JSON: %(error)s (line %(line)s, column %(column)s).") % {
            "error": error.msg,
            "line": error.lineno,
            "column": error.colno,
        }
    if kind == "json_object":
        return "valid" if isinstance(value, dict) else gettext("Not a JSON object.")
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    try:
        checked = sandbox.run(
            "chatsite.chat.structured.schema_check",
            json.dumps({"schema": schema, "text": text}).encode(),
            seconds=SCHEMA_SECONDS,
            memory_mb=SCHEMA_MEMORY_MB,
        )
    except sandbox.TooSlow:
        return NOT_IN_TIME % {"seconds": f"{SCHEMA_SECONDS:g}"}
    except sandbox.SandboxError:
        return gettext("Not checked: the schema could not be checked against the answer.")
    return checked.decode()


def schema_check(data: bytes) -> bytes:
    """In the sandbox child: "valid", or where and why the answer does not match its schema."""
    given = json.loads(data)
    error = next(iter(Draft202012Validator(given["schema"]).iter_errors(json.loads(given["text"]))), None)
    if error is None:
        return b"valid"
    where = "/".join(map(str, error.absolute_path)) or "the top level"
    return f"Does not match the schema at {where}: {error.message[:200]}".encode()
