"""Who the client is behind reverse proxies: its address, and the scheme it used.

Each proxy appends the address it received the request from to X-Forwarded-For, so with N
proxies of ours in front the client is the Nth entry from the right; anything to the left of
it was written by the client itself and can be forged. (daphne's --proxy-headers takes the
leftmost entry, which is why `manage.py serve` does not let daphne read X-Forwarded-For.)
"""

from collections.abc import Awaitable, Callable, Mapping

from django.conf import settings

UNKNOWN = "unknown"
_MAX_LENGTH = 100  # an address is a cache key: a proxy's odd entry must not grow it unbounded


def _forwarded_for(meta_or_scope: Mapping) -> tuple[str, list[str]]:
    """(peer address, X-Forwarded-For entries left to right) of a request.META or an ASGI scope."""
    if "headers" in meta_or_scope:  # an ASGI scope (header names are lowercase there)
        peer = (meta_or_scope.get("client") or ("", 0))[0] or ""
        values = [value.decode("latin1") for name, value in meta_or_scope["headers"] if name == b"x-forwarded-for"]
    else:  # request.META, where Django joined repeated headers with ","
        peer = meta_or_scope.get("REMOTE_ADDR") or ""
        values = [meta_or_scope.get("HTTP_X_FORWARDED_FOR", "")]
    entries = [entry.strip() for value in values for entry in value.split(",")]
    return peer, [entry for entry in entries if entry]


def client_address(meta_or_scope: Mapping, trusted_proxies: int | None = None) -> str:
    """The client's address: the peer's, or with TRUSTED_PROXIES proxies in front, the rightmost
    X-Forwarded-For entry that none of them wrote."""
    trusted = settings.TRUSTED_PROXIES if trusted_proxies is None else trusted_proxies
    peer, entries = _forwarded_for(meta_or_scope)
    if trusted <= 0 or not entries:
        address = peer
    elif len(entries) >= trusted:
        address = entries[-trusted]
    else:
        # Fewer hops than proxies: every entry was written by one of ours, the leftmost first.
        address = entries[0]
    return address[:_MAX_LENGTH] or UNKNOWN


ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


class ForwardedProto:
    """ASGI middleware: the scheme from X-Forwarded-Proto (set by the proxy in front), so that a
    site served over HTTPS by its proxy sees https and wss. The client address is left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket"):
            proto = None
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-proto":
                    # The last value is the one the nearest proxy wrote.
                    proto = value.decode("latin1").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                if scope["type"] == "websocket":
                    proto = {"http": "ws", "https": "wss"}[proto]
                scope = {**scope, "scheme": proto}
        await self.app(scope, receive, send)
