"""The one module that speaks Chat Completions: stream an answer, list models, explain failures.

HTTP goes through aiohttp: on the streaming hot path (one network read per token) it costs a
fraction of httpx's CPU per read, which bench/stream.py measured as the largest cost per token.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from chatsite.providers.sse import SSEError, SSEParser

__all__ = [
    "Citations",
    "Delta",
    "Event",
    "Reasoning",
    "Refusal",
    "ToolCallDelta",
    "Finish",
    "Logprobs",
    "ProviderError",
    "Usage",
    "build_body",
    "list_models",
    "stream_chat",
    "stream_reads",
    "token_field_retry",
]

ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error response read for its message
MESSAGE_LIMIT = 300  # characters of a provider's own message shown to the user
DRAIN_SECONDS = 1.0  # how long to wait for the end of the body after [DONE]
MODELS_BODY_LIMIT = 16 * 1024 * 1024  # a model list with descriptions can be large, not endless
HOLD_BELOW_BYTES = 16 * 1024  # reads this large come from a fast stream: never held
URL_CHARS = 2048  # a cited URL longer than this is dropped, not cut (a cut URL is a wrong one)
TITLE_CHARS = 300  # characters of a cited page's title kept
TOKEN_CHARS = 200  # characters of one logprobs token kept (tokens are short; this bounds a bad one)
TOP_LOGPROBS = 20  # the most alternatives a provider may send per token


@dataclass(frozen=True, slots=True)
class Delta:
    """More answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class Reasoning:
    """More of the model's thinking, streamed before (or between) the answer text.

    Gateways name it `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning` (OpenRouter
    style); it is kept apart from the answer and never sent back upstream.
    """

    text: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """The model declining to answer (`delta.refusal`), shown as such rather than as an answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call the model is making: the first piece of a call names it (id and
    function name), later ones add fragments of its JSON arguments. index tells parallel calls
    apart; None when a gateway leaves it out (then the id, if any, says whether a call is new).
    """

    index: int | None
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for the whole request, as reported by the provider."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: int = 0  # completion_tokens_details.reasoning_tokens, part of completion_tokens
    cached_tokens: int = 0  # prompt_tokens_details.cached_tokens, part of prompt_tokens


@dataclass(frozen=True, slots=True)
class Finish:
    """The provider's finish_reason ("stop", "length", "content_filter", "tool_calls", ...)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Citations:
    """Web pages the answer cites (`url_citation` annotations), each a dict with url, title,
    start_index and end_index (character offsets into the answer, or None)."""

    items: tuple[dict, ...]


@dataclass(frozen=True, slots=True)
class Logprobs:
    """Token probabilities of more answer text: [token, logprob, [[alternative, logprob], ...]] each."""

    tokens: tuple[list, ...]


Event = Delta | Reasoning | Refusal | ToolCallDelta | Citations | Logprobs | Usage | Finish
TEXT_EVENTS = (Delta, Reasoning, Refusal, ToolCallDelta)  # what the model writes, not bookkeeping


class ProviderError(Exception):
    """Any failure talking to a provider, with a message fit to show the user.

    code is one of: auth, not_found, rate_limited, bad_request, server, connect, timeout,
    dropped, malformed, upstream.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ProviderError(code={self.code!r}, status={self.status!r}, message={self.message!r})"


def build_body(
    model: str,
    messages: list[dict],
    params: dict | None = None,
    extra: dict | None = None,
) -> dict:
    """The JSON body of a streaming Chat Completions request.

    params are the sampling parameters (temperature, max_tokens, ...); extra holds provider
    extensions such as OfoxAI's "provider" routing object. Neither can change the model, the
    messages or streaming, since the rest of the app depends on those.
    """
    body: dict[str, Any] = {
        "model": model,  # untouched: vendor-prefixed ids like "openai/gpt-4o" must pass through
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for more in (params, extra):
        if more:
            body.update(more)
    body["model"] = model
    body["messages"] = messages
    body["stream"] = True
    return body


def token_field_retry(body: dict, error: ProviderError) -> tuple[dict, str] | None:
    """When a provider refused the length limit's field by name (a 400 such as "Unsupported
    parameter: 'max_tokens' ... use 'max_completion_tokens'"), the body with the other field,
    and that field's name; otherwise None."""
    if error.status != 400:
        return None
    for sent, other in (("max_tokens", "max_completion_tokens"), ("max_completion_tokens", "max_tokens")):
        if sent in body and other not in body and re.search(rf"\b{sent}\b", error.message):
            retry = {key: value for key, value in body.items() if key != sent}
            retry[other] = body[sent]
            return retry, other
    return None


async def stream_chat(base_url: str, api_key: str, body: dict, **options: Any) -> AsyncIterator[Event]:
    """POST body to {base_url}/chat/completions and yield the answer's events as they stream.

    The event-by-event form of stream_reads, which takes the same options (see there for
    errors and stopping).
    """
    async with aclosing(stream_reads(base_url, api_key, body, **options)) as reads:
        async for events in reads:
            for event in events:
                yield event


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

    With hold, reading stops for hold() seconds after a read that carried answer text, and
    the next read takes everything that arrived meanwhile: one wake-up per window for a
    stream rather than one per token, on a server that would coalesce those tokens anyway.
    The first text is never held back, nor a stream fast enough to fill large reads (holding
    it would only slow it down to a socket buffer per window).

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
    resume: asyncio.TimerHandle | None = None
    done = False
    try:
        response = await _send(client, "POST", base_url, "/chat/completions", api_key, timeout, body=body)
        if response.status >= 300:
            raise await _http_error(response, api_key)

        parser = SSEParser()
        finished = False
        content = response.content
        # Holding pauses the socket itself, so the kernel buffers the tokens (and aiohttp
        # drops its read timeout meanwhile).
        protocol = response.connection.protocol if hold and response.connection else None
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
                        for event in _chunk_events(payload, api_key):
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
                if (
                    protocol is not None
                    and len(data) < HOLD_BELOW_BYTES
                    and any(type(event) in TEXT_EVENTS for event in events)
                ):
                    # The next readany waits until the timer resumes the socket: no wake-up of
                    # this task in between.
                    protocol.pause_reading()
                    resume = asyncio.get_running_loop().call_later(hold(), protocol.resume_reading)
        except SSEError:
            limit = parser.max_event_bytes
            raise ProviderError("malformed", f"The provider sent an event larger than {_size(limit)}.") from None
        except TimeoutError as exc:
            raise _timeout_error(idle_timeout) from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            # aiohttp raises a dropped connection before handing over what it had received
            # (while this reader was busy elsewhere): that text still counts.
            if events := _salvage(content, parser, api_key):
                yield events
            raise ProviderError(
                "dropped", "The connection to the provider dropped before the answer was complete."
            ) from exc

        # Some servers end with the finish chunk and no [DONE]; that answer is complete.
        if not finished:
            raise ProviderError("dropped", "The provider ended the stream before the answer was complete.")
        done = True
    finally:
        if resume is not None:
            resume.cancel()
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
                raise ProviderError("dropped", "The connection to the provider dropped while listing models.") from exc
        finally:
            response.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    # Most servers answer {"object": "list", "data": [...]}; a few answer the bare list.
    items = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ProviderError("malformed", "The provider's model list is not in the expected format.")
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]


def new_session() -> aiohttp.ClientSession:
    """A client for providers: pooled connections, no cookies, no environment proxies for loopback."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        # Proxies come from _proxy_for, looked up once: trust_env would read the environment
        # and ~/.netrc in a thread on every request.
        trust_env=False,
    )


@functools.cache
def _proxy_for(scheme: str, host: str) -> str | None:
    """The HTTP(S)_PROXY for this host, honouring NO_PROXY (the environment read once)."""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(scheme)


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
        raise ProviderError("connect", "The provider's base URL is not a valid http(s) URL.") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ProviderError("connect", "The provider's base URL is not a valid http(s) URL.")
    host = url.host
    try:
        return await client.request(method, url, json=body, headers=headers, timeout=timeouts, allow_redirects=False)
    except aiohttp.ConnectionTimeoutError as exc:
        raise ProviderError("connect", f"Timed out connecting to the provider at {host}.") from exc
    except TimeoutError as exc:
        raise _timeout_error(timeouts.sock_read) from exc
    except aiohttp.InvalidURL as exc:
        raise ProviderError("connect", "The provider's base URL is not a valid http(s) URL.") from exc
    except aiohttp.ClientConnectorError as exc:
        reason = _clean(str(exc.os_error), api_key)
        detail = f": {reason}" if reason else "."
        raise ProviderError("connect", f"Could not connect to the provider at {host}{detail}") from exc
    except (aiohttp.ClientError, ConnectionError) as exc:
        # The server accepted the connection, then closed it without an answer.
        raise ProviderError("dropped", f"The provider at {host} closed the connection without answering.") from exc


def _timeout_error(seconds: float | None) -> ProviderError:
    if seconds is None:
        return ProviderError("timeout", "The provider stopped sending; gave up waiting.")
    return ProviderError("timeout", f"The provider sent nothing for {seconds:g} s; gave up waiting.")


def _chunk_events(payload: str, api_key: str) -> list[Event]:
    """The events in one streamed chunk (the hot path: one json.loads, a few dict lookups)."""
    try:
        chunk = json.loads(payload)
    except ValueError:
        raise ProviderError("malformed", "The provider sent a stream line that is not JSON.") from None
    if type(chunk) is not dict:
        raise ProviderError("malformed", "The provider sent a stream chunk that is not an object.")
    if chunk.get("error"):
        # After the headers went out with 200, a failure can only be reported in the stream.
        message = _error_message(chunk, api_key)
        text = "The provider reported an error during the answer"
        raise ProviderError("upstream", f"{text}: {message}" if message else f"{text}.")

    events: list[Event] = []
    choices = chunk.get("choices")
    if choices and type(choices) is list:
        choice = choices[0]
        if type(choice) is dict:
            delta = choice.get("delta")
            if delta and type(delta) is dict:
                content = delta.get("content")
                if len(delta) == 1 and content and type(content) is str:
                    # Most chunks are only {"content": "..."}: nothing else to look for.
                    events.append(Delta(content))
                else:
                    _delta_events(events, delta, content)
            # Absent or null on almost every chunk: one dict miss.
            if logprobs := choice.get("logprobs"):
                _add_logprobs(events, logprobs)
            reason = choice.get("finish_reason")
            if reason and type(reason) is str:
                # Some gateways put the whole message (with its annotations) in the final chunk.
                message = choice.get("message")
                if message and type(message) is dict and (notes := message.get("annotations")):
                    _add_citations(events, notes)
                events.append(Finish(reason))
    # Perplexity-style gateways list the sources as bare URLs beside the choices.
    if (urls := chunk.get("citations")) and type(urls) is list:
        _add_citations(events, [{"type": "url_citation", "url": url} for url in urls if type(url) is str])
    usage = chunk.get("usage")
    # With include_usage every chunk carries "usage": null; the last one has the totals.
    if usage and type(usage) is dict:
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
        total = _int(usage.get("total_tokens")) or prompt + completion
        reasoning = _int(_details(usage, "completion_tokens_details").get("reasoning_tokens"))
        cached = _int(_details(usage, "prompt_tokens_details").get("cached_tokens"))
        events.append(Usage(prompt, completion, total, reasoning, cached))
    return events


def _delta_events(events: list[Event], delta: dict, content: object) -> None:
    """The events of a delta with more than text: thinking (before the text), the text, a
    refusal, tool calls, annotations."""
    thought = delta.get("reasoning_content") or delta.get("reasoning")
    if thought and type(thought) is str:
        events.append(Reasoning(thought))
    # Empty strings are noise (the first chunk often has role=assistant, content="").
    if content and type(content) is str:
        events.append(Delta(content))
    refusal = delta.get("refusal")
    if refusal and type(refusal) is str:
        events.append(Refusal(refusal))
    calls = delta.get("tool_calls")
    if calls and type(calls) is list:
        events += _tool_call_deltas(calls)
    # OpenRouter-style gateways stream annotations in a delta near the end.
    if notes := delta.get("annotations"):
        _add_citations(events, notes)


def _salvage(content: aiohttp.StreamReader, parser: SSEParser, api_key: str) -> list[Event]:
    """The events in what aiohttp had buffered when the connection dropped. Its public reads
    raise the error first, so the private one is used; if aiohttp changes, nothing is salvaged."""
    events: list[Event] = []
    try:
        data = content._read_nowait(-1) if content._buffer else b""
        for payload in parser.feed(data):
            if payload == "[DONE]":
                break
            events += _chunk_events(payload, api_key)
    except Exception:  # noqa: S110 - best effort on a connection that failed anyway
        pass
    return events


def _tool_call_deltas(calls: list) -> list[ToolCallDelta]:
    """delta.tool_calls as events: some gateways send a whole call in one chunk, others the
    name first and the arguments in fragments; ids come with or without OpenAI's "call_"."""
    events = []
    for call in calls:
        if type(call) is not dict:
            continue
        function = call.get("function")
        function = function if type(function) is dict else {}
        index, ident = call.get("index"), call.get("id")
        name, arguments = function.get("name"), function.get("arguments")
        if type(arguments) is dict:  # a few servers send the arguments as an object
            arguments = json.dumps(arguments, ensure_ascii=False)
        events.append(
            ToolCallDelta(
                index if type(index) is int else None,
                ident if type(ident) is str else "",
                name if type(name) is str else "",
                arguments if type(arguments) is str else "",
            )
        )
    return events


def _add_citations(events: list[Event], notes: object) -> None:
    """Append a Citations event for the url_citation annotations in notes, if there are any.

    The spec nests the fields (`{"type": "url_citation", "url_citation": {"url": ...}}`); some
    gateways flatten them into the annotation itself: both are read.
    """
    if type(notes) is not list:
        return
    items = []
    for note in notes:
        if type(note) is not dict or note.get("type") != "url_citation":
            continue
        cited = note.get("url_citation")
        if type(cited) is not dict:
            cited = note
        url = cited.get("url")
        if type(url) is not str or not url.strip() or len(url) > URL_CHARS:
            continue
        title = cited.get("title")
        items.append(
            {
                "url": url.strip(),
                "title": " ".join(title.split())[:TITLE_CHARS] if type(title) is str else "",
                "start_index": _index(cited.get("start_index")),
                "end_index": _index(cited.get("end_index")),
            }
        )
    if items:
        events.append(Citations(tuple(items)))


def _add_logprobs(events: list[Event], logprobs: object) -> None:
    """Append a Logprobs event for the answer tokens in choices[0].logprobs.content, if any."""
    content = logprobs.get("content") if type(logprobs) is dict else None
    if not content or type(content) is not list:
        return
    tokens = []
    for item in content:
        if type(item) is not dict or type(item.get("token")) is not str:
            continue
        alternatives = []
        top = item.get("top_logprobs")
        if type(top) is list:
            for alt in top[:TOP_LOGPROBS]:
                if type(alt) is dict and type(alt.get("token")) is str:
                    alternatives.append([alt["token"][:TOKEN_CHARS], _logprob(alt.get("logprob"))])
        tokens.append([item["token"][:TOKEN_CHARS], _logprob(item.get("logprob")), alternatives])
    if tokens:
        events.append(Logprobs(tuple(tokens)))


def _index(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _logprob(value: object) -> float:
    """Rounded to four decimals: compact when stored, and still telling 99.99 % from 100 %."""
    if type(value) not in (int, float) or value != value:  # missing, or NaN
        return -9999.0  # the spec's value for "very unlikely"
    return round(min(0.0, max(value, -9999.0)), 4)


def _details(usage: dict, key: str) -> dict:
    details = usage.get(key)
    return details if type(details) is dict else {}


def _int(value: object) -> int:
    return value if type(value) is int else 0


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    while len(body) < limit:
        data = await response.content.readany()
        if not data:
            break
        body += data
    return bytes(body[:limit])


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
            message = _clean(raw.decode("utf-8", "replace"), api_key)
    else:
        message = _error_message(doc, api_key)

    retry_after = None
    if status in (401, 403):
        code, head = (
            "auth",
            ("The provider rejected the API key" if status == 401 else "The provider refused access with this API key"),
        )
    elif status == 404:
        code, head = "not_found", "The provider does not know this model or endpoint"
    elif status == 429:
        code, head = "rate_limited", "Rate limited by the provider"
        retry_after = _retry_after(response.headers)
    elif 400 <= status < 500:
        code, head = "bad_request", "The provider refused the request"
    elif status >= 500:
        code = "server"
        head = "The provider had an internal error" if status == 500 else "The provider is unavailable or overloaded"
    else:  # 1xx/3xx: redirects are not followed, so the base URL is likely wrong
        code, head = "bad_request", "The provider answered with a redirect; check the base URL"
    text = f"{head} (HTTP {status})"
    if retry_after is not None:
        text += f"; retry after {retry_after:g} s"
    text = f"{text}: {message}" if message else f"{text}."
    return ProviderError(code, text, status=status, retry_after=retry_after)


def _error_message(doc: object, api_key: str) -> str:
    """The message in an OpenAI-style error document ({"error": {"message": ...}}), or ""."""
    if not isinstance(doc, dict):
        return ""
    error = doc.get("error", doc)
    if isinstance(error, str):
        return _clean(error, api_key)
    if isinstance(error, dict):
        for key in ("message", "detail", "msg"):
            if isinstance(error.get(key), str):
                return _clean(error[key], api_key)
    return ""


def _clean(message: str, api_key: str) -> str:
    """A provider's message made safe and short: no API key, one line, at most ~300 chars."""
    if api_key:
        # Some gateways echo the key they rejected back in the message.
        message = message.replace(api_key, "[API key]")
    message = " ".join(message.split())
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1].rstrip() + "…"
    return message


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
