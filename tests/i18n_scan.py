"""Finds text shown to users that is not marked for translation: in templates, in the JS
modules under static/, and (by their shape) in Python. Each finding is "file:line: text".

Run alone (python -m tests.i18n_scan) it prints them all; tests/test_i18n.py fails on any.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What may stand bare: the brand, key names on a keyboard, units and symbols.
ALLOWED = {
    "chatsite",
    "Ctrl",
    "Shift",
    "Enter",
    "Esc",
    "Alt",
    "Tab",
    "O",
    "K",
    "S",
    "JSON",
    "Top P",
    "—",
    "…",
    "×",
    "⋯",
    "·",
    "answer",  # an example JSON Schema name (letters, digits, _ or -), the schema field's placeholder
    "Escape",  # key names as aria-keyshortcuts and KeyboardEvent.key spell them
    "Meta",
    "Control",
}
LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


def _words(text: str) -> bool:
    """Whether text holds something to translate: letters, not only allowed names."""
    text = " ".join(text.split())
    if not text or not LETTERS.search(text):
        return False
    return text not in ALLOWED and not all(part in ALLOWED for part in re.split(r"[\s+/]+", text) if part)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- templates -------------------------------------------------------------------------------

# Template parts whose text is marked or not shown; blanked out keeping their line breaks.
_MARKED = re.compile(
    r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}"
    r"|{#.*?#}"
    r"|{%\s*blocktranslate\b.*?{%\s*endblocktranslate\s*%}"
    r"|{%\s*translate\b.*?%}"
    r"|<script\b.*?</script>"
    r"|<style\b.*?</style>"
    r"|<svg\b.*?</svg>"
    r"|<code\b.*?</code>"
    r"|<![^>]*>"
    r"|{%\s*block (?:body_class|bodyclass)\s*%}.*?{%\s*endblock\s*%}",
    re.S,
)
_TAGS = re.compile(r"{{.*?}}|{%.*?%}", re.S)
_ELEMENT = re.compile(r"<(/?)([a-zA-Z][\w-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.S)
_ATTRIBUTE = re.compile(r"([\w:-]+)\s*=\s*(\"[^\"]*\"|'[^']*')")
SHOWN_ATTRIBUTES = {"title", "aria-label", "aria-description", "placeholder", "alt", "label"}
# data-* attributes holding text that scripts show (the announcer's sentences, a dialog's title).
SHOWN_DATA = re.compile(r"data-[\w-]+")
VALUE_SHOWN = {"button", "submit", "reset"}


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group())


def template_offenders(path: Path) -> list[str]:
    rel = _rel(path)
    text = _MARKED.sub(_blank, path.read_text())
    found = []

    def report(offset: int, what: str) -> None:
        found.append(f"{rel}:{text.count(chr(10), 0, offset) + 1}: {' '.join(what.split())[:80]}")

    if path.suffix == ".txt":  # a mail: all of its text is read
        for match in re.finditer(r"[^\n]+", _TAGS.sub(_blank, text)):
            if _words(match.group()):
                report(match.start(), match.group())
        return found
    position = 0
    for element in _ELEMENT.finditer(text):
        between = text[position : element.start()]
        if _words(_TAGS.sub(" ", between)):
            report(position + len(between) - len(between.lstrip()), between)
        position = element.end()
        closing, name, attributes = element.groups()
        if closing:
            continue
        attrs = {key.lower(): value[1:-1] for key, value in _ATTRIBUTE.findall(attributes)}
        for key, value in attrs.items():
            shown = key in SHOWN_ATTRIBUTES or (
                key == "value" and (name == "button" or attrs.get("type") in VALUE_SHOWN)
            )
            # A data-* value reads as text when it has words and a space ("Answer finished: {text}").
            if not shown and SHOWN_DATA.fullmatch(key):
                shown = " " in value.strip() and not re.search(r"[/=]|^[\[{]", value)
            if shown and not value.lstrip().startswith(('{"', "[")) and _words(_TAGS.sub(" ", value)):
                report(element.start(), f"{key}={value}")
    tail = text[position:]
    if _words(_TAGS.sub(" ", tail)):
        report(position, tail)
    return found


# -- JavaScript -----------------------------------------------------------------------------

# Comments and string literals, in one pass so that neither is read inside the other.
_JS_TOKEN = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?\*/)"""
    r"""|(?P<regex>(?<=[(,=:\[!&|?{};])\s*/(?![*/])(?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\\n\[])+/[a-z]*)"""
    r"""|(?P<q>['"`])(?P<body>(?:\\.|(?!(?P=q))[^\\])*)(?P=q)""",
    re.S,
)
# Where a text goes in front of the user: properties, attributes, dialogs, and the keys of
# dom.js's h() and of the modules' label tables.
_JS_SINK = re.compile(
    r"(?:\.(?:textContent|innerText|title|placeholder|ariaLabel|alt|label)\s*[+]?=|"
    r"setAttribute\(\s*['\"](?:aria-label|title|placeholder|alt|aria-description)['\"]\s*,|"
    r"\b(?:alert|confirm|prompt|showError|show|announce|Error)\(|"
    r"[{,]\s*(?:text|title|alt|label|placeholder|name|['\"]aria-label['\"])\s*:)\s*$"
)
# A literal is marked when it is the first argument of gettext/ngettext (or its second).
_JS_MARKED = re.compile(r"\b(?:gettext|ngettext)\(\s*(?:(['\"`])(?:\\.|(?!\1)[^\\])*\1\s*,\s*)?$", re.S)
# Places where a literal is code: compared, a key of storage or headers, an element's name.
_JS_NOT_SHOWN = re.compile(
    r"(?:\b(?:import|from|case)|===|!==|==|!=|console\.\w+\(|"
    r"\.(?:querySelector|querySelectorAll|closest|matches|get|has|set|delete|includes|startsWith|endsWith|"
    r"getItem|setItem|removeItem|add|remove|toggle|contains|replace|addEventListener|removeEventListener|"
    r"createElement|getAttribute|setAttribute|removeAttribute|hasAttribute|toggleAttribute|getElementById|"
    r"postMessage|split|join)\(|\bh\(|\[)\s*$"
)
# Prose: a capitalised word, words ending as a sentence does, or three words in a row.
_JS_PROSE = re.compile(r"^(?:[A-Z][a-z]+\b.*|.*\s.*[a-z)][.?!…:]\s*)$|(?:^|\s)[a-z]+ [a-z]+ [a-z]+(?:\s|$)", re.S)
# Literals that look like prose but are code: a selector, a URL or path, a header, a key name.
_JS_CODE = re.compile(r"^(?:[.#\[].*|\S*://\S*|\S*/\S*|[A-Z][\w]*-[A-Z][\w-]*|[A-Z][a-z]+[A-Z]\w*)$")


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def js_offenders(path: Path) -> list[str]:
    rel = _rel(path)
    source = path.read_text()
    found = []
    for match in _JS_TOKEN.finditer(source):
        if match.group("comment") or match.group("regex"):
            continue
        body, before = match.group("body"), source[max(0, match.start() - 200) : match.start()]
        if _JS_MARKED.search(before):
            continue
        if _JS_NOT_SHOWN.search(before):
            continue
        # A template literal's own text: the parts outside ${…}.
        text = re.sub(r"\$\{[^}]*\}", " ", body) if match.group("q") == "`" else body
        if not _words(text):
            continue
        sink = bool(_JS_SINK.search(before)) and not re.fullmatch(r"[a-z][\w-]*", text.strip())
        prose = bool(_JS_PROSE.search(text.strip())) and not _JS_CODE.match(text.strip())
        if sink or prose:
            found.append(f"{rel}:{_line(source, match.start())}: {' '.join(text.split())[:80]}")
    return found


# -- Python ---------------------------------------------------------------------------------

GETTEXT = {"gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy", "_", "format_lazy"}


def _is_marked(node: ast.AST) -> bool:
    """Whether an expression's text comes through gettext: a call, a % on one, or a name."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return name in GETTEXT or name == "str" or not _literal(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _is_marked(node.left)
    if isinstance(node, ast.IfExp):
        return _is_marked(node.body) and _is_marked(node.orelse)
    return not _literal(node)


def _literal(node: ast.AST) -> bool:
    """Whether an expression is text written here: a string constant, an f-string, or a sum of them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(LETTERS.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.Constant) and LETTERS.search(part.value) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) or _literal(node.right)
    return False


def python_offenders(path: Path) -> list[str]:
    """What must go through gettext: messages.*(request, text), ValidationError(text), a form
    field's label= / help_text=, and the websocket's error frames (ChatError, FrameError)."""
    rel = _rel(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        checked: list[ast.AST] = []
        if owner == "messages" and name in {"debug", "info", "success", "warning", "error", "add_message"}:
            checked = node.args[1:2] if name != "add_message" else node.args[2:3]
        elif name in {
            "ValidationError",
            "ChatError",
            "FrameError",
            "UploadRejected",
            "TextRefused",
            "InviteUnusable",
            "ParameterError",
            "OverBudget",
        }:
            checked = node.args[:1]
        elif name == "_error" and owner == "self":  # the consumer's error frame
            checked = node.args[:1]
        if owner == "forms" or name.endswith("Field"):
            checked += [kw.value for kw in node.keywords if kw.arg in {"label", "help_text"}]
        for argument in checked:
            if not _is_marked(argument):
                found.append(f"{rel}:{argument.lineno}: {ast.unparse(argument)[:80]}")
    return found


# -- all of it ------------------------------------------------------------------------------


def templates() -> list[Path]:
    return sorted(p for p in (ROOT / "templates").rglob("*") if p.suffix in {".html", ".txt"})


def scripts() -> list[Path]:
    return sorted([*(ROOT / "static").glob("*.js"), *(ROOT / "static/js").glob("*.js")])


def python_files() -> list[Path]:
    return sorted(p for p in (ROOT / "chatsite").rglob("*.py") if "migrations" not in p.parts)


def offenders() -> list[str]:
    found = []
    for path in templates():
        found += template_offenders(path)
    for path in scripts():
        found += js_offenders(path)
    for path in python_files():
        found += python_offenders(path)
    return found


if __name__ == "__main__":
    results = offenders()
    print("\n".join(results))
    print(f"{len(results)} unmarked", file=sys.stderr)
