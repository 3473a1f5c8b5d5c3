"""Calling an admin's HTTP tool: POST the arguments as JSON to an allow-listed URL."""

import asyncio

import aiohttp
from django.conf import settings
from yarl import URL

READ_LIMIT = 256 * 1024  # bytes of an answer read; what the model gets is cut further


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


def url_allowed(url: str, allowed: list[str] | None = None) -> bool:
    """Whether url is under one of the allowed prefixes: same scheme, host and port, and a path
    inside the prefix's path (so "https://api.example.com.evil.net" or "/tools-other" never
    match "https://api.example.com/tools")."""
    target = _origin(url)
    if target is None:
        return False
    for prefix in settings.TOOL_ALLOWED_URLS if allowed is None else allowed:
        rule = _origin(prefix.strip())
        if rule is None or rule[:3] != target[:3]:
            continue
        path = rule[3]
        if target[3] == path or target[3].startswith(path if path.endswith("/") else path + "/"):
            return True
    return False


async def call(
    session: aiohttp.ClientSession,
    url: str,
    arguments: dict,
    *,
    timeout: float,  # noqa: ASYNC109 - the tool's own limit, applied with asyncio.timeout
    authorization: str = "",
) -> str:
    """The tool's answer as text, or ToolFailed saying why."""
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
    text = bytes(raw).decode("utf-8", "replace").strip()
    if status >= 300:
        raise ToolFailed(
            f"The tool answered HTTP {status}: {text[:300]}" if text else f"The tool answered HTTP {status}."
        )
    return text or "(empty answer)"
