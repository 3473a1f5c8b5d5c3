"""Calling an admin's HTTP tool: POST the arguments as JSON to an allow-listed URL."""

import asyncio
from urllib.parse import urlsplit

import aiohttp
from django.conf import settings

READ_LIMIT = 256 * 1024  # bytes of an answer read; what the model gets is cut further


class ToolFailed(Exception):
    """A tool that could not give a result; the message goes to the model as the result."""


def _origin(url: str) -> tuple[str, str, int, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port, parts.path or "/"


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
    headers = {"Accept": "application/json, text/plain"}
    if authorization:
        headers["Authorization"] = authorization
    try:
        async with asyncio.timeout(timeout):
            async with session.post(url, json=arguments, headers=headers, allow_redirects=False) as response:
                raw = await response.content.read(READ_LIMIT)
                status = response.status
    except TimeoutError:
        raise ToolFailed(f"The tool did not answer within {timeout:g} s.") from None
    except (aiohttp.ClientError, ConnectionError, ValueError) as error:
        raise ToolFailed(f"Could not reach the tool: {type(error).__name__}.") from None
    text = raw.decode("utf-8", "replace").strip()
    if status >= 300:
        raise ToolFailed(
            f"The tool answered HTTP {status}: {text[:300]}" if text else f"The tool answered HTTP {status}."
        )
    return text or "(empty answer)"
