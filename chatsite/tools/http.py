"""Calling an admin's HTTP tool: POST the arguments as JSON to an allow-listed URL."""

import asyncio
import base64
import binascii
import json
import re
from urllib.parse import urlsplit

import aiohttp
from django.conf import settings
from yarl import URL

READ_LIMIT = 256 * 1024  # bytes of an answer read; what the model gets is cut further
SCRUBBED = "[Authorization]"

# Path spellings that a tool server, or a proxy in front of it, may decode into "/", "\" or
# "." after the allow-list check passed, so "/tools/..%2Fadmin" could reach "/admin": an
# encoded slash, backslash or dot, an encoded "%" (decoded twice: "%252e%252e"), a path
# parameter (";", Tomcat's "/..;/") and overlong UTF-8 ("%c0%ae" for ".").
_AMBIGUOUS = re.compile(r"%(?:2f|5c|2e|25|3b|c0|c1)|[\\;]", re.IGNORECASE)


class ToolFailed(Exception):
    """A tool that could not give a result; the message goes to the model as the result."""


def _origin(url: str) -> tuple[str, str, int, str] | None:
    # Parsed as aiohttp will request it: yarl resolves "..", "." and their %2e spellings, so
    # "/tools/../admin" is compared as the "/admin" it really is.
    try:
        parsed = URL(url)
        port = parsed.port
    except (ValueError, TypeError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host or port is None:
        return None
    return parsed.scheme, parsed.host.lower(), port, parsed.path or "/"


def ambiguous_path(url: str) -> bool:
    """Whether url's path has a spelling that servers may decode differently (see _AMBIGUOUS),
    as written or as aiohttp will send it."""
    try:
        sent = URL(url).raw_path
        written = urlsplit(url).path
    except (ValueError, TypeError):
        return True
    return bool(_AMBIGUOUS.search(written) or _AMBIGUOUS.search(sent))


def url_allowed(url: str, allowed: list[str] | None = None) -> bool:
    """Whether url is under one of the allowed prefixes: same scheme, host and port, and a path
    inside the prefix's path (so "https://api.example.com.evil.net" or "/tools-other" never
    match "https://api.example.com/tools"), written with no ambiguous spelling."""
    target = _origin(url)
    if target is None or ambiguous_path(url):
        return False
    for prefix in settings.TOOL_ALLOWED_URLS if allowed is None else allowed:
        rule = _origin(prefix.strip())
        if rule is None or rule[:3] != target[:3]:
            continue
        path = rule[3]
        if target[3] == path or target[3].startswith(path if path.endswith("/") else path + "/"):
            return True
    return False


def _secret_spellings(authorization: str) -> list[str]:
    """How a tool may echo its Authorization header: the whole value, the credentials after the
    scheme ("Bearer <token>"), for Basic the decoded "user:password" and the password; each also
    as a JSON string writes it. Longest first, so the whole value is replaced before its parts."""
    value = authorization.strip()
    if not value:
        return []
    pieces = {value}
    scheme, _, credentials = value.partition(" ")
    credentials = credentials.strip()
    if credentials:
        pieces.add(credentials)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            pieces |= {decoded, decoded.partition(":")[2]} - {""}
    spellings = set()
    for piece in pieces:
        escaped = json.dumps(piece)[1:-1]
        spellings |= {piece, escaped, escaped.replace("/", "\\/")}
    return sorted(spellings, key=len, reverse=True)


def scrub(text: str, authorization: str, *, cut: bool = False) -> str:
    """text with every spelling of the tool's Authorization replaced, as the provider client
    does with API keys. cut: text was cut short, so its end may hold the start of a secret;
    that start is dropped too."""
    spellings = _secret_spellings(authorization)
    if not spellings:
        return text
    text = re.sub("|".join(map(re.escape, spellings)), SCRUBBED, text, flags=re.IGNORECASE)
    if cut:
        tail = text[-len(spellings[0]) :].lower()
        for spelling in spellings:
            lowered = spelling.lower()
            size = next((n for n in range(len(lowered) - 1, 0, -1) if tail.endswith(lowered[:n])), 0)
            if size:
                text, tail = text[:-size], tail[:-size]
    return text


async def call(
    session: aiohttp.ClientSession,
    url: str,
    arguments: dict,
    *,
    timeout: float,  # noqa: ASYNC109 - the tool's own limit, applied with asyncio.timeout
    authorization: str = "",
) -> str:
    """The tool's answer as text, or ToolFailed saying why; neither holds the Authorization."""
    if ambiguous_path(url):
        raise ToolFailed("This tool's URL has an encoded /, \\, . or %, or a ;, in its path; it is not called.")
    if not url_allowed(url):
        raise ToolFailed("This tool's URL is not on the allow-list (TOOL_ALLOWED_URLS).")
    # identity: the shared client does not decompress (providers' streams must not be held back
    # by a compressor), so a tool must not compress either.
    headers = {"Accept": "application/json, text/plain", "Accept-Encoding": "identity"}
    if authorization:
        headers["Authorization"] = authorization
    try:
        async with asyncio.timeout(timeout):
            async with session.post(url, json=arguments, headers=headers, allow_redirects=False) as response:
                status = response.status
                raw = bytearray()
                while len(raw) < READ_LIMIT and (data := await response.content.read(READ_LIMIT - len(raw))):
                    raw += data
    except TimeoutError:
        raise ToolFailed(f"The tool did not answer within {timeout:g} s.") from None
    except (aiohttp.ClientError, ConnectionError, ValueError) as error:
        raise ToolFailed(f"Could not reach the tool: {type(error).__name__}.") from None
    # Some servers echo the credentials they refused (or were sent): the result goes to the
    # model and into the transcript, so the header never does.
    text = scrub(bytes(raw).decode("utf-8", "replace"), authorization, cut=len(raw) >= READ_LIMIT).strip()
    if status >= 300:
        raise ToolFailed(
            f"The tool answered HTTP {status}: {text[:300]}" if text else f"The tool answered HTTP {status}."
        )
    return text or "(empty answer)"
