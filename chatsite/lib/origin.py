"""Websocket handshakes are accepted only from the site's own exact origins.

Channels' AllowedHostsOriginValidator compares host names only: a page on
http://intranet-host:9999 or plain http when the site is https would pass it.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host


def _origin_of(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def allowed_origin(scope: dict) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return False
    parsed = _origin_of(origin)
    if parsed is None:
        return False
    if any(parsed == _origin_of(trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
    # Otherwise the origin must be this very site: same scheme, host and port as the
    # request, with a host the site serves (Django's own same-origin rule for CSRF).
    host = _header(scope, b"host")
    if not host:
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    site = _origin_of(f"{scheme}://{host}")
    if site is None or not validate_host(site[1], settings.ALLOWED_HOSTS):
        return False
    return parsed == site


class ExactOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not allowed_origin(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
