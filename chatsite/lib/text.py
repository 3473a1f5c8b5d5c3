"""Text from outside: what chatsite takes from a browser, and what a database can store.

A browser's JSON can carry what no database stores: a lone surrogate (`"\\ud800"` decodes to
one) fails SQLite's and PostgreSQL's UTF-8, and PostgreSQL refuses NUL. Such text is refused
at the edge with a clear message (check_text, check_value); text from providers and tools,
which cannot be refused, is made storable instead (storable).
"""

import re

from django.utils.translation import gettext

# C0 control characters other than tab and newline, and surrogates (always lone in a str).
_REFUSED = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
MAX_DEPTH = 64  # nesting of a browser's JSON value (settings, extra fields; a schema has its own cap of 32)


class TextRefused(ValueError):
    """Text a browser sent that chatsite does not take, with the reason for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def check_text(text: str, what: str | None = None) -> str:
    """text with its line ends made newlines, or TextRefused saying what is wrong with it."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    found = _REFUSED.search(text)
    if found is None:
        return text
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        raise TextRefused(
            gettext("%(what)s holds a broken character (half of a surrogate pair); type or paste it again.")
            % {"what": what or gettext("The text")}
        )
    raise TextRefused(
        gettext("%(what)s holds a control character (U+%(code)04X) that chatsite does not take.")
        % {"what": what or gettext("The text"), "code": ord(char)}
    )


def check_value(value: object, what: str | None = None) -> object:
    """A JSON value with every string in it (keys too) checked by check_text, or TextRefused."""
    if isinstance(value, str):
        return check_text(value, what)
    if not isinstance(value, dict | list):
        return value
    # Iterative, so a deep value costs no recursion; its depth is bounded anyway.
    root: list = [value]
    stack: list[tuple[object, list | dict, object, int]] = [(value, root, 0, 0)]
    while stack:
        node, parent, slot, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TextRefused(gettext("%(what)s is nested too deeply.") % {"what": what or gettext("The text")})
        if isinstance(node, str):
            parent[slot] = check_text(node, what)
        elif isinstance(node, dict):
            copy: dict = {}
            for key, item in node.items():
                key = check_text(key, what) if isinstance(key, str) else key
                copy[key] = item
                stack.append((item, copy, key, depth + 1))
            parent[slot] = copy
        elif isinstance(node, list):
            copy_list = list(node)
            for index, item in enumerate(copy_list):
                stack.append((item, copy_list, index, depth + 1))
            parent[slot] = copy_list
    return root[0]


def storable(text: str) -> str:
    """text as a database stores it: surrogate halves that belong together joined into their
    character, halves that do not dropped, NUL dropped."""
    if not text.isascii() and _SURROGATES.search(text):
        # A pair JSON-escaped in two chunks ("\\ud83d", then "\\ude00") is one emoji again.
        text = _SURROGATES.sub("", text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass"))
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def storable_value(value: object) -> object:
    """storable() for every string in a JSON value (tool calls, citations, token lists)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_value(item) for item in value]
    if isinstance(value, dict):
        return {storable(key) if isinstance(key, str) else key: storable_value(item) for key, item in value.items()}
    return value
