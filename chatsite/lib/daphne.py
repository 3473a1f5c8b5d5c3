"""What serving chatsite needs of daphne that daphne does not do on its own.

Each function changes daphne (or the Twisted reactor it runs on) at one point, named here;
chatsite/chat/runtime.py install() applies them wherever the ASGI application is loaded, so
`daphne chatsite.asgi:application` and `manage.py serve` behave the same. In a process that is
not running daphne's server (tests, another server) they do nothing harmful.

- daphne reads a whole request body (into memory or a temp file) before the application sees
  it, so a view cannot refuse an oversized upload before the work is done: the limit is set on
  daphne's request object, where the Content-Length header is first known.
- autobahn drops the TCP connection of a websocket whose message is over daphne's size limit
  (the browser sees 1006, no reason): it is told to close with 1009 and its reason instead.
- daphne stops at once on SIGTERM: when_serving() lets the application take over the signals
  (and start its background work) when the server starts, and stop_serving() ends it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from daphne.http_protocol import WebRequest
from daphne.ws_protocol import WebSocketFactory

_TOO_LARGE = b'{"error": "The request is too large."}'


def limit_request_bodies(max_bytes: int, larger: dict[str, int] | None = None) -> None:
    """Answer 413 and close as soon as a request declares, or sends, more than max_bytes (or
    the limit `larger` gives its path, e.g. the import page's)."""
    limits = {path.encode(): limit for path, limit in (larger or {}).items()}
    if getattr(WebRequest, "_chatsite_body_limit", None) is not None:
        WebRequest._chatsite_body_limit, WebRequest._chatsite_path_limits = max_bytes, limits
        return
    original_got_length = WebRequest.gotLength
    original_handle_chunk = WebRequest.handleContentChunk
    WebRequest._chatsite_body_limit, WebRequest._chatsite_path_limits = max_bytes, limits

    def refuse(request: WebRequest) -> None:
        request._chatsite_refused = True
        transport = request.channel.transport
        transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
        )
        transport.loseConnection()

    def got_length(request: WebRequest, length: int | None) -> None:
        request._chatsite_received = 0
        request._chatsite_refused = False
        # The request line is parsed (the channel holds it) before the body's length is known.
        path = (getattr(request.channel, "_path", b"") or b"").split(b"?", 1)[0]
        request._chatsite_limit = WebRequest._chatsite_path_limits.get(path, WebRequest._chatsite_body_limit)
        original_got_length(request, length)
        if length is not None and length > request._chatsite_limit:
            refuse(request)

    def handle_chunk(request: WebRequest, data: bytes) -> None:
        if request._chatsite_refused:
            return
        request._chatsite_received += len(data)
        if request._chatsite_received > request._chatsite_limit:  # chunked, no length
            refuse(request)
            return
        original_handle_chunk(request, data)

    def process(request: WebRequest):
        if getattr(request, "_chatsite_refused", False):
            return None
        return original_process(request)

    original_process = WebRequest.process
    WebRequest.gotLength = got_length
    WebRequest.handleContentChunk = handle_chunk
    WebRequest.process = process


def limit_websocket_messages(max_bytes: int) -> None:
    """Websocket messages (and frames) larger than max_bytes are refused by autobahn with a close
    1009 and its reason, whatever daphne's command line said; the TCP connection is not just dropped."""
    if getattr(WebSocketFactory, "_chatsite_message_limit", None) is not None:
        WebSocketFactory._chatsite_message_limit = max_bytes
        return
    WebSocketFactory._chatsite_message_limit = max_bytes
    original = WebSocketFactory.setProtocolOptions

    def set_protocol_options(factory: WebSocketFactory, **options) -> None:
        limit = WebSocketFactory._chatsite_message_limit
        options.update(failByDrop=False, maxMessagePayloadSize=limit, maxFramePayloadSize=limit)
        original(factory, **options)

    WebSocketFactory.setProtocolOptions = set_protocol_options


def when_serving(start: Callable[[asyncio.AbstractEventLoop], None]) -> None:
    """Call start(loop) as daphne's server starts, once its reactor's own signal handlers are
    installed (so start can replace them); nothing when this process is not daphne's server."""
    if "daphne.server" not in sys.modules:
        return
    from twisted.internet import reactor

    if getattr(reactor, "_asyncioEventloop", None) is None or reactor.running:
        return
    reactor.callWhenRunning(lambda: start(reactor._asyncioEventloop))


def stop_serving() -> None:
    """Stop daphne's server (its own shutdown then runs: the sockets' applications are ended)."""
    from twisted.internet import reactor

    if reactor.running:
        reactor.stop()
