"""The HTTP side of Chat Completions: stream an answer's events, list models, explain failures.

The chunks' meaning is chunks.py's, the request body shaping.py's; this module moves bytes and
turns every HTTP and network failure into a ProviderError. HTTP goes through aiohttp: on the
streaming hot path (one network read per token) it costs a fraction of httpx's CPU per read,
which bench/stream.py measured as the largest cost per token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, suppress
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import aiohttp
from django.utils.translation import gettext, gettext_lazy
from multidict import CIMultiDictProxy
from yarl import URL

from chatsite.providers.chunks import ChunkDecoder
from chatsite.providers.events import (
    TEXT_EVENTS,
    Event,
    Finish,
    ProviderError,
    clean_message,
    error_message,
)
from chatsite.providers.sse import SSEError, SSEParser

__all__ = ["ReadHold", "list_models", "new_session", "stream_chat", "stream_reads"]

ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error response read for its message
DRAIN_SECONDS = 1.0  # how long to wait for the end of the body after [DONE]
MODELS_BODY_LIMIT = 16 * 1024 * 1024  # a model list with descriptions can be large, not endless
HOLD_BELOW_BYTES = 16 * 1024  # reads this large come from a fast stream: never held


async def stream_chat(base_url: str, api_key: str, body: dict, **options: Any) -> AsyncIterator[Event]:
    """POST body to {base_url}/chat/completions and yield the answer's events as they stream.

    The event-by-event form of stream_reads, which takes the same options (see there for
    errors and stopping).
    """
    async with aclosing(stream_reads(base_url, api_key, body, **options)) as reads:
        async for events in reads:
            for event in events:
                yield event


class ReadHold:
    """Read-holding, a transport option of stream_reads: after a network read that carried
    answer text, the response's socket is paused for window() seconds, so the kernel buffers
    what arrives meanwhile and the next read takes all of it. One wake-up per window for a
    stream rather than one per token, on a server that would coalesce those tokens anyway.

    aiohttp has no public way to do this; the protocol's own pause_reading / resume_reading
    (what its flow control uses) are. A connection must never go back to the pool paused, or
    the next request on it would hear nothing: a finished body (aiohttp has released the
    connection) is never paused, and release() resumes a pending pause before the response is
    released or closed.
    """

    __slots__ = ("response", "protocol", "window", "timer")

    def __init__(self, response: aiohttp.ClientResponse, window: Callable[[], float]) -> None:
        self.response = response
        self.protocol = response.connection.protocol if response.connection else None
        self.window = window
        self.timer: asyncio.TimerHandle | None = None

    def after_read(self, size: int, events: list[Event]) -> None:
        if (
            self.protocol is None
            or size >= HOLD_BELOW_BYTES  # a fast stream: holding would only slow it down
            or self.response.connection is None  # the body is complete: the connection is the pool's
            or not any(type(event) in TEXT_EVENTS for event in events)  # the first text is never held back
        ):
            return
        self.protocol.pause_reading()
        # The next readany waits until the timer resumes the socket: no wake-up in between.
        self.timer = asyncio.get_running_loop().call_later(self.window(), self._resume)

    def _resume(self) -> None:
        self.timer = None
        self.protocol.resume_reading()

    def release(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self._resume()


async def stream_reads(
    base_url: str,
    api_key: str,
    body: dict,
    *,
    client: aiohttp.ClientSession | None = None,
    connect_timeout: float = 10.0,
    idle_timeout: float = 60.0,
    hold: Callable[[], float] | None = None,
) -> AsyncIterator[list[Event]]:
    """POST body to {base_url}/chat/completions and yield the events of each network read.

    hold: hold reads for hold() seconds after each read with text (see ReadHold).

    Every failure is raised as ProviderError. idle_timeout bounds the silence between two
    network reads, not the whole answer (reasoning models may think for minutes in total).
    Close the generator to stop: `async with contextlib.aclosing(stream_reads(...)) as reads`
    closes the HTTP response at once, also when the consuming task is cancelled, so the
    provider stops generating (and billing).
    """
    timeout = aiohttp.ClientTimeout(
        total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=idle_timeout
    )
    own_client = client is None
    if client is None:
        client = new_session()
    response: aiohttp.ClientResponse | None = None
    holding: ReadHold | None = None
    done = False
    try:
        response = await _send(client, "POST", base_url, "/chat/completions", api_key, timeout, body=body)
        if response.status >= 300:
            raise await _http_error(response, api_key)

        parser = SSEParser()
        decoder = ChunkDecoder(api_key)
        finished = False
        content = response.content
        if hold is not None:
            holding = ReadHold(response, hold)
        try:
            while True:
                data = await content.readany()
                payloads = parser.feed(data) if data else parser.close()
                events: list[Event] = []
                ended = False
                try:
                    for payload in payloads:
                        if payload == "[DONE]":
                            ended = True
                            break
                        for event in decoder.decode(payload):
                            if type(event) is Finish:
                                if finished:  # some servers repeat it in the usage chunk
                                    continue
                                finished = True
                            events.append(event)
                except ProviderError:
                    if events:  # the text before an error reported in the stream is kept
                        yield events
                    raise
                if events:
                    yield events
                if ended:
                    # Read the end of the body too, so the connection goes back to the pool
                    # rather than being closed half-read.
                    with suppress(Exception):
                        async with asyncio.timeout(DRAIN_SECONDS):
                            while await content.readany():
                                pass
                    done = True
                    return
                if not data:
                    break
                if holding is not None:
                    holding.after_read(len(data), events)
        except SSEError:
            limit = parser.max_event_bytes
            raise ProviderError(
                "malformed", gettext("The provider sent an event larger than %(size)s.") % {"size": _size(limit)}
            ) from None
        except TimeoutError as exc:
            raise _timeout_error(idle_timeout) from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            # aiohttp raises a dropped connection before handing over what it had received
            # (while this reader was busy elsewhere): that text still counts.
            if events := _salvage(content, parser, decoder):
                yield events
            raise ProviderError(
                "dropped", gettext("The connection to the provider dropped before the answer was complete.")
            ) from exc

        # Some servers end with the finish chunk and no [DONE]; that answer is complete.
        if not finished:
            raise ProviderError("dropped", gettext("The provider ended the stream before the answer was complete."))
        done = True
    finally:
        if holding is not None:
            holding.release()
        # Closing an unfinished response closes its connection, which tells the provider to
        # stop; a finished one is released for reuse. Errors while tidying up would only hide
        # the reason we stopped.
        if response is not None:
            with suppress(Exception):
                if done:
                    response.release()
                else:
                    response.close()
        if own_client:
            with suppress(Exception):
                await client.close()


async def list_models(
    base_url: str,
    api_key: str,
    *,
    timeout: float = 15.0,  # noqa: ASYNC109 - a per-step timeout, not a deadline
) -> list[dict]:
    """GET {base_url}/models and return its "data" list (each item has at least an "id")."""
    timeouts = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)
    async with new_session() as client:
        response = await _send(client, "GET", base_url, "/models", api_key, timeouts)
        try:
            if response.status >= 300:
                raise await _http_error(response, api_key)
            try:
                raw = await _read_bounded(response, MODELS_BODY_LIMIT)
            except TimeoutError as exc:
                raise _timeout_error(timeout) from exc
            except (aiohttp.ClientError, ConnectionError) as exc:
                raise ProviderError(
                    "dropped", gettext("The connection to the provider dropped while listing models.")
                ) from exc
        finally:
            response.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    # Most servers answer {"object": "list", "data": [...]}; a few answer the bare list.
    items = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ProviderError("malformed", gettext("The provider's model list is not in the expected format."))
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]


def new_session(connections_per_host: int = 0) -> aiohttp.ClientSession:
    """A client for providers: pooled connections (at most connections_per_host to one host and
    port; 0: no bound), no cookies, proxies as the environment says (see _proxy_for)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=connections_per_host, enable_cleanup_closed=True),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        # Proxies come from _proxy_for: trust_env would also read ~/.netrc, in a thread, on
        # every request.
        trust_env=False,
    )


def _proxy_for(url: URL) -> str | None:
    """The proxy to reach url through: HTTPS_PROXY / HTTP_PROXY (or ALL_PROXY) from the
    environment, unless NO_PROXY names the host. Loopback is always reached directly: the
    bundled model and local servers are never sent through a proxy. (Read per request: a few
    microseconds, and a changed environment takes effect.)"""
    host = url.host or ""
    if host == "localhost" or host.endswith(".localhost"):
        return None
    with suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies):
        return None
    return proxy


async def _send(
    client: aiohttp.ClientSession,
    method: str,
    base_url: str,
    path: str,
    api_key: str,
    timeouts: aiohttp.ClientTimeout,
    body: dict | None = None,
) -> aiohttp.ClientResponse:
    headers = {
        "Accept": "text/event-stream" if body is not None else "application/json",
        # A compressing gateway may hold tokens back to fill its compression window.
        "Accept-Encoding": "identity",
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    try:
        url = URL(base_url.rstrip("/") + path)
    except ValueError as exc:
        raise ProviderError("connect", gettext("The provider's base URL is not a valid http(s) URL.")) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ProviderError("connect", gettext("The provider's base URL is not a valid http(s) URL."))
    host = url.host
    try:
        return await client.request(
            method, url, json=body, headers=headers, timeout=timeouts, allow_redirects=False, proxy=_proxy_for(url)
        )
    except aiohttp.ConnectionTimeoutError as exc:
        raise ProviderError(
            "connect", gettext("Timed out connecting to the provider at %(host)s.") % {"host": host}
        ) from exc
    except TimeoutError as exc:
        raise _timeout_error(timeouts.sock_read) from exc
    except aiohttp.InvalidURL as exc:
        raise ProviderError("connect", gettext("The provider's base URL is not a valid http(s) URL.")) from exc
    except aiohttp.ClientProxyConnectionError as exc:
        raise ProviderError(
            "connect", gettext("Could not connect to the provider at %(host)s through the proxy.") % {"host": host}
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        reason = clean_message(str(exc.os_error), api_key)
        if reason:
            text = gettext("Could not connect to the provider at %(host)s: %(reason)s") % {
                "host": host,
                "reason": reason,
            }
        else:
            text = gettext("Could not connect to the provider at %(host)s.") % {"host": host}
        raise ProviderError("connect", text) from exc
    except (aiohttp.ClientError, ConnectionError) as exc:
        # The server accepted the connection, then closed it without an answer.
        raise ProviderError(
            "dropped", gettext("The provider at %(host)s closed the connection without answering.") % {"host": host}
        ) from exc


def _timeout_error(seconds: float | None) -> ProviderError:
    if seconds is None:
        return ProviderError("timeout", gettext("The provider stopped sending; gave up waiting."))
    return ProviderError(
        "timeout",
        gettext("The provider sent nothing for %(seconds)s s; gave up waiting.") % {"seconds": f"{seconds:g}"},
    )


def _salvage(content: aiohttp.StreamReader, parser: SSEParser, decoder: ChunkDecoder) -> list[Event]:
    """The events in what aiohttp had buffered when the connection dropped. Its public reads
    raise the error first, so the private one is used; if aiohttp changes, nothing is salvaged."""
    events: list[Event] = []
    try:
        data = content._read_nowait(-1) if content._buffer else b""
        for payload in parser.feed(data):
            if payload == "[DONE]":
                break
            events += decoder.decode(payload)
    except Exception:  # noqa: S110 - best effort on a connection that failed anyway
        pass
    return events


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    while len(body) < limit:
        data = await response.content.readany()
        if not data:
            break
        body += data
    return bytes(body[:limit])


# What a provider's non-2xx status means, said before its own message (_http_error).
HEADS = {
    "rejected": gettext_lazy("The provider rejected the API key"),
    "refused_key": gettext_lazy("The provider refused access with this API key"),
    "not_found": gettext_lazy("The provider does not know this model or endpoint"),
    "rate_limited": gettext_lazy("Rate limited by the provider"),
    "bad_request": gettext_lazy("The provider refused the request"),
    "internal": gettext_lazy("The provider had an internal error"),
    "unavailable": gettext_lazy("The provider is unavailable or overloaded"),
    "redirect": gettext_lazy("The provider answered with a redirect; check the base URL"),
}


async def _http_error(response: aiohttp.ClientResponse, api_key: str) -> ProviderError:
    """A ProviderError for a non-2xx answer, quoting the provider's own message when it has one."""
    status = response.status
    try:
        raw = await _read_bounded(response, ERROR_BODY_LIMIT)
    except (TimeoutError, aiohttp.ClientError, ConnectionError):
        raw = b""  # the status alone still says what went wrong
    message = ""
    try:
        doc = json.loads(raw)
    except ValueError:
        # Plain text is worth quoting; an HTML error page from a proxy is not.
        if response.headers.get("content-type", "").startswith("text/plain"):
            message = clean_message(raw.decode("utf-8", "replace"), api_key)
    else:
        message = error_message(doc, api_key)

    retry_after = None
    if status in (401, 403):
        code, head = (
            "auth",
            (HEADS["rejected"] if status == 401 else HEADS["refused_key"]),
        )
    elif status == 404:
        code, head = "not_found", HEADS["not_found"]
    elif status == 429:
        code, head = "rate_limited", HEADS["rate_limited"]
        retry_after = _retry_after(response.headers)
    elif 400 <= status < 500:
        code, head = "bad_request", HEADS["bad_request"]
    elif status >= 500:
        code = "server"
        head = HEADS["internal"] if status == 500 else HEADS["unavailable"]
    else:  # 1xx/3xx: redirects are not followed, so the base URL is likely wrong
        code, head = "bad_request", HEADS["redirect"]
    values = {"head": head, "status": status, "seconds": f"{retry_after:g}" if retry_after is not None else ""}
    if retry_after is not None:
        text = gettext("%(head)s (HTTP %(status)s); retry after %(seconds)s s") % values
    else:
        text = gettext("%(head)s (HTTP %(status)s)") % values
    # The provider's own message is quoted as it came: it is not chatsite's to translate.
    text = gettext("%(text)s: %(message)s") % {"text": text, "message": message} if message else f"{text}."
    return ProviderError(code, text, status=status, retry_after=retry_after)


def _retry_after(headers: CIMultiDictProxy[str]) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date), or retry-after-ms."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, round(parsedate_to_datetime(value).timestamp() - time()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n / 1024:g} KiB"
