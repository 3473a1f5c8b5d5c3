"""A real loopback HTTP server that streams Chat Completions exactly as the providers do.

Tests and benchmarks point the client at `Upstream().base_url` and script what the next answer
does: how it is cut into tokens, how fast it comes, and how it fails. The server runs on its own
asyncio loop in a background thread, so sync and async tests can use it alike:

    with Upstream() as up:
        up.script(tokens=["Hel", "lo"], delay=0.01)          # the next chat request
        ... stream_chat(up.base_url, "sk-test", body) ...
        assert up.requests[-1]["json"]["stream"] is True
        up.script(delay=0.05, tokens=["x"] * 100)
        ... close the stream early ...
        assert up.wait_disconnects(1)                        # the server saw the close

Requests without a script use `up.default` (change it with `up.set_default(...)`); `reset()`
forgets scripts, requests and counters. From async code wait with `wait_disconnects_async`, which
leaves the caller's loop running. `up.models` and `up.models_status` drive GET /v1/models;
`connections`, `connections_closed`, `active_streams` and `disconnects` count what happened.
Run it alone for a benchmark: `python -m tests.upstream --port 8001 --tokens 500 --delay 0.01`.

Two hooks for programs that drive it (bench/stream.py): `Upstream(scripter=...)` picks the
script of a chat request from its JSON body (return None for the usual queue), and a Script's
`on_token(i)` is called right before its content token i is written; `Upstream(routes=...)`
answers `GET <path>` with the JSON of `routes[path]()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_TOKENS = ["Hello", ",", " world", "!"]
# model-a and model-b describe themselves as OpenRouter-style gateways do (what they take, their
# context and output sizes, the parameters they accept); gpt-4o says nothing beyond its id.
DEFAULT_MODELS = [
    {
        "id": "test/model-a",
        "object": "model",
        "created": 1700000000,
        "owned_by": "test",
        "context_length": 32768,
        "architecture": {"input_modalities": ["text", "image", "file", "audio"], "output_modalities": ["text"]},
        "top_provider": {"context_length": 32768, "max_completion_tokens": 4096},
        "supported_parameters": [
            "max_tokens",
            "temperature",
            "tools",
            "response_format",
            "logprobs",
            "web_search_options",
        ],
    },
    {
        "id": "test/model-b",
        "object": "model",
        "created": 1700000000,
        "owned_by": "test",
        "context_length": 8192,
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "supported_parameters": ["max_tokens", "temperature", "reasoning"],
    },
    {"id": "openai/gpt-4o", "object": "model", "created": 1700000000, "owned_by": "openai"},
]
MAX_HEAD_BYTES = 64 * 1024

# What a provider says for each status when a script gives no error_body (OpenAI's wording).
ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to use this model.", "invalid_request_error", None),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


@dataclass
class Script:
    """What the server does for one chat completion request."""

    tokens: list[str] = field(default_factory=lambda: list(DEFAULT_TOKENS))
    delay: float = 0.0  # seconds before each content chunk
    first_delay: float = 0.0  # seconds after the headers, before the first chunk
    role_chunk: bool = True  # the {"role": "assistant", "content": ""} first chunk
    # None: computed (prompt words, len(tokens)); a dict: sent as is; False: no usage at all.
    usage: dict | Literal[False] | None = None
    usage_in_finish: bool = False  # usage in the finish chunk (always) instead of a last chunk
    finish_reason: str | None = "stop"  # None: no finish chunk
    done: bool = True  # end with data: [DONE]
    model: str | None = None  # the model named in chunks; None echoes the requested one
    status: int = 200
    error_body: dict | str | None = None  # for status != 200; None: an OpenAI-style error
    retry_after: float | str | None = None  # Retry-After header on an error answer
    hang: bool = False  # read the request, never answer
    drop_after: int | None = None  # close the socket after N content chunks
    malformed_after: int | None = None  # send `data: {not json` after N content chunks, end
    error_event_after: int | None = None  # send `data: {"error": ...}` after N chunks, close
    keepalive: bool = False  # a ": PROCESSING" comment before every event
    crlf: bool = False  # \r\n line endings
    split: bool = False  # each event in several writes, cut inside CRLF and UTF-8 characters
    huge_chunk: int | None = None  # one more content delta of this many characters
    reasoning: list[str] = field(default_factory=list)  # thinking deltas before the content
    reasoning_field: str = "reasoning_content"  # or "reasoning", as some gateways name it
    refusal: list[str] = field(default_factory=list)  # refusal deltas after the content
    # Annotations as the spec writes them ({"type": "url_citation", "url_citation": {...}}),
    # sent where annotations_in says: "delta" (a chunk of their own after the content, as
    # OpenRouter-style gateways stream them), "finish" (in the finish chunk's delta) or
    # "message" (a `message` object with them in the finish chunk, as some gateways do).
    annotations: list[dict] = field(default_factory=list)
    annotations_in: Literal["delta", "finish", "message"] = "delta"
    # Per content token, (logprob, [(alternative, logprob), ...]): sent in each content chunk's
    # choices[0].logprobs when the request asks for logprobs, with the chosen token first in
    # top_logprobs and at most the request's top_logprobs entries there.
    logprobs: list[tuple[float, list[tuple[str, float]]]] | None = None
    # A length-limit field this model refuses with a 400 naming it, as OpenAI's o-series do
    # for max_tokens; the script stays queued for the retry.
    refuse_field: str | None = None
    # Tool calls after the content: [{"id": "call_1", "name": "calculator", "arguments": "{...}"}].
    # With any, a finish_reason left at "stop" is sent as "tool_calls".
    tool_calls: list[dict] = field(default_factory=list)
    # "fragments": OpenAI's way, the id and name first, the arguments in a few pieces, calls one
    # after another; "whole": each call in one chunk; "no_index": fragments without "index"
    # (some gateways); "parallel": all calls' first pieces in one chunk, then interleaved.
    tool_style: str = "fragments"
    tool_content: str = "null"  # the content beside tool calls: "null", "empty" ("") or "absent"
    ascii_json: bool = False  # JSON-escape every non-ASCII character (a lone surrogate then goes as \udxxx)
    other_events: list[str] = field(default_factory=list)  # raw SSE events (e.g. "event: ping\ndata: x") first
    on_token: Callable[[int], None] | None = None  # called right before content token i is written


class _Closed(Exception):
    """The client closed the connection."""


class _Request:
    __slots__ = ("method", "path", "headers", "body", "json")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        try:
            self.json: Any = json.loads(body) if body else None
        except ValueError:
            self.json = None


class _Connection(asyncio.Protocol):
    """One client connection: parses HTTP/1.1 requests and answers them one after another."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head: tuple[str, str, dict[str, str], int] | None = None
        self.queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.writable: asyncio.Future[None] | None = None  # pending while the socket is full
        self.task: asyncio.Task[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.upstream._stopping:  # accepted just before stop(): nobody will answer it
            transport.abort()
            return
        self.upstream._connections.add(self)
        self.upstream.connections += 1
        self.task = self.loop.create_task(self.serve())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.head is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buffer) > MAX_HEAD_BYTES:
                        self.transport.close()  # type: ignore[union-attr]
                    return
                lines = self.buffer[:end].decode("latin-1").split("\r\n")
                del self.buffer[: end + 4]
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                self.head = (method, path, headers, int(headers.get("content-length", 0)))
            method, path, headers, length = self.head
            if len(self.buffer) < length:
                return
            body = bytes(self.buffer[:length])
            del self.buffer[:length]
            self.head = None
            request = _Request(method, path, headers, body)
            self.upstream.requests.append({"method": method, "path": path, "headers": headers, "json": request.json})
            self.queue.put_nowait(request)

    def eof_received(self) -> bool:
        self._mark_closed()
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._mark_closed()
        self.upstream._connections.discard(self)
        with self.upstream._changed:
            self.upstream.connections_closed += 1
            self.upstream._changed.notify_all()

    def pause_writing(self) -> None:
        self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    # helpers for handlers

    def _mark_closed(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.queue.put_nowait(None)

    async def write(self, data: bytes) -> None:
        if self.closed.done():
            raise _Closed
        self.transport.write(data)  # type: ignore[union-attr]
        if self.writable is not None:
            await asyncio.wait([self.writable, self.closed], return_when=asyncio.FIRST_COMPLETED)
            if self.closed.done():
                raise _Closed

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once (raising _Closed) if the client goes away."""
        if seconds > 0:
            await asyncio.wait([self.closed], timeout=seconds)
        else:
            await asyncio.sleep(0)  # let the other streams and new connections have a turn
        if self.closed.done():
            raise _Closed

    async def serve(self) -> None:
        try:
            while True:
                request = await self.queue.get()
                if request is None or self.closed.done():
                    return
                keep_alive = await self.upstream._answer(self, request)
                if not keep_alive or request.headers.get("connection", "").lower() == "close":
                    self.transport.close()  # type: ignore[union-attr]
                    return
        except _Closed:
            pass


class Upstream:
    """A scripted OpenAI-compatible provider on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        scripter: Callable[[dict], Script | None] | None = None,
        routes: dict[str, Callable[[], Any]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.scripter = scripter
        self.routes = routes or {}
        self.requests: list[dict] = []  # {"method", "path", "headers" (lower-case), "json"}
        self.scripts: deque[Script] = deque()  # for the next chat requests, in order
        self.default = Script()  # for chat requests when no script is queued
        self.models: list[dict] = [dict(model) for model in DEFAULT_MODELS]
        self.models_status = 200  # e.g. 404 for a server without GET /models
        # POST /tools/NAME plays an HTTP tool: {"status", "body" (JSON or text), "delay"} per
        # name; a tool without an entry echoes its arguments as {"received": ...}.
        self.tool_answers: dict[str, dict] = {}
        self.disconnects = 0  # answers cut short because the client closed the connection
        self.connections = 0  # connections accepted (keep-alive reuse keeps this low)
        self.connections_closed = 0  # connections closed by either side
        self.active_streams = 0  # streams being sent right now
        self.peak_streams = 0  # the most streams sent at once
        self.tool_log: list[tuple[str, float, float]] = []  # (tool, began, ended) of each tool request
        self._changed = threading.Condition()
        self._connections: set[_Connection] = set()
        self._stopping = False
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # lifecycle

    def start(self) -> Upstream:
        self._stopping = False
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(lambda: _Connection(self), self.host, self.port, backlog=1024)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="upstream", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._loop = self._thread = None

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._stopping = True
        self._server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.transport.abort()  # type: ignore[union-attr]
        tasks = [c.task for c in connections if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Bounded: wait_closed also waits for sockets accepted but not yet handed to a protocol.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1)

    # scripting

    def script(self, **kw: Any) -> Script:
        """Queue a Script(**kw) for the next chat completion request."""
        script = Script(**kw)
        self.scripts.append(script)
        return script

    def set_default(self, **kw: Any) -> Script:
        """Use Script(**kw) for every chat request that has no queued script."""
        self.default = Script(**kw)
        return self.default

    def reset(self) -> None:
        """Forget requests, queued scripts and counters; restore the defaults."""
        self.requests.clear()
        self.scripts.clear()
        self.default = Script()
        self.models = [dict(model) for model in DEFAULT_MODELS]
        self.models_status = 200
        self.tool_answers = {}
        with self._changed:
            self.disconnects = self.connections = self.connections_closed = self.peak_streams = 0
        self.tool_log = []

    def wait_disconnects(self, count: int = 1, timeout: float = 2.0) -> bool:
        """Block until the client has cut `count` answers short; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.disconnects >= count, timeout)

    async def wait_disconnects_async(self, count: int = 1, timeout: float = 2.0) -> bool:
        """wait_disconnects for async code, without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while self.disconnects < count:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    # answering

    async def _answer(self, conn: _Connection, request: _Request) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        path = request.path.split("?", 1)[0].rstrip("/")
        if request.method == "POST" and path == "/v1/chat/completions":
            script = self.scripter(request.json if isinstance(request.json, dict) else {}) if self.scripter else None
            if script is None:
                script = self.scripts.popleft() if self.scripts else self.default
            try:
                return await self._chat(conn, request, script)
            except _Closed:
                with self._changed:
                    self.disconnects += 1
                    self._changed.notify_all()
                return False
        if request.method == "POST" and path.startswith("/tools/"):
            name = path.removeprefix("/tools/")
            answer = self.tool_answers.get(name, {})
            began = time.monotonic()
            await conn.sleep(answer.get("delay", 0))
            self.tool_log.append((name, began, time.monotonic()))
            body = answer.get("body", {"received": request.json})
            if isinstance(body, str):
                raw = body.encode()
                head = f"HTTP/1.1 {answer.get('status', 200)} X\r\nContent-Type: text/plain\r\n"
                await conn.write(head.encode() + b"Content-Length: %d\r\n\r\n" % len(raw) + raw)
                return True
            return await _send_json(conn, answer.get("status", 200), body)
        if request.method == "GET" and path in self.routes:
            return await _send_json(conn, 200, self.routes[path]())
        if request.method == "GET" and path == "/v1/models":
            if self.models_status != 200:
                error = {"error": {"message": "Not Found", "type": "not_found", "code": None}}
                return await _send_error(conn, self.models_status, error, None)
            return await _send_json(conn, 200, {"object": "list", "data": self.models})
        return await _send_error(conn, 404, {"error": {"message": f"Unknown path {path}", "type": "not_found"}}, None)

    async def _chat(self, conn: _Connection, request: _Request, script: Script) -> bool:
        body = request.json if isinstance(request.json, dict) else {}
        if script.hang:
            await conn.closed
            raise _Closed
        if script.status != 200:
            return await _send_error(conn, script.status, script.error_body, script.retry_after)
        if script.refuse_field and script.refuse_field in body:
            other = "max_completion_tokens" if script.refuse_field == "max_tokens" else "max_tokens"
            message = (
                f"Unsupported parameter: '{script.refuse_field}' is not supported with this model. "
                f"Use '{other}' instead."
            )
            error = {
                "message": message,
                "type": "invalid_request_error",
                "param": script.refuse_field,
                "code": "unsupported_parameter",
            }
            self.scripts.appendleft(script)
            return await _send_error(conn, 400, {"error": error}, None)

        tokens = list(script.tokens)
        if script.huge_chunk:
            tokens.append(("0123456789" * (script.huge_chunk // 10 + 1))[: script.huge_chunk])
        model = script.model or str(body.get("model", ""))
        usage = script.usage
        if usage is None:
            usage = _count_usage(body, tokens, len(script.reasoning))
        if not body.get("stream"):
            return await _send_json(conn, 200, _completion(next(self._ids), model, tokens, usage, script.finish_reason))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.active_streams += 1
        self.peak_streams = max(self.peak_streams, self.active_streams)
        try:
            stream = _Stream(conn, script, next(self._ids), model, include_usage, body)
            return await stream.run(tokens, usage)
        finally:
            self.active_streams -= 1


class _Stream:
    """Writes one chat completion as SSE in the OpenAI chunk format, inside a chunked body."""

    def __init__(
        self, conn: _Connection, script: Script, number: int, model: str, include_usage: bool, body: dict
    ) -> None:
        self.conn = conn
        self.script = script
        self.body = body
        self.newline = "\r\n" if script.crlf else "\n"
        self.keepalive = f": PROCESSING{self.newline}{self.newline}".encode()
        self.created = int(time.time())
        self.ident = f"chatcmpl-{number:08d}"
        # Every chunk shares a prefix; with include_usage each one also carries "usage": null.
        self.prefix = (
            f'{{"id":"{self.ident}","object":"chat.completion.chunk","created":{self.created},'
            f'"model":{json.dumps(model, ensure_ascii=False)},"system_fingerprint":null,'
        )  # ... then "choices":[...] and usage; the usage-only last chunk has "choices":[]
        self.usage_null = ',"usage":null' if include_usage else ""
        self.include_usage = include_usage

    def chunk(
        self, delta: str, finish: str | None = None, usage: dict | None = None, logprobs: str = "null", more: str = ""
    ) -> str:
        finish_json = json.dumps(finish) if finish else "null"
        usage_json = f',"usage":{json.dumps(usage)}' if usage else self.usage_null
        return (
            f'{self.prefix}"choices":[{{"index":0,"delta":{delta},"logprobs":{logprobs},'
            f'"finish_reason":{finish_json}{more}}}]{usage_json}}}'
        )

    def logprobs(self, token: str, sent: int) -> str:
        """choices[0].logprobs of one content chunk, as OpenAI sends it (or null)."""
        script, body = self.script, self.body
        if script.logprobs is None or not body.get("logprobs") or sent >= len(script.logprobs):
            return "null"
        chosen, alternatives = script.logprobs[sent]
        top = [(token, chosen), *alternatives][: body.get("top_logprobs") or 0]

        def entry(text: str, logprob: float) -> dict:
            return {"token": text, "logprob": logprob, "bytes": list(text.encode())}

        item = {**entry(token, chosen), "top_logprobs": [entry(text, logprob) for text, logprob in top]}
        return json.dumps({"content": [item], "refusal": None}, ensure_ascii=False)

    async def event(self, payload: str) -> None:
        data = f"data: {payload}{self.newline}{self.newline}".encode()
        if self.script.keepalive:
            await self.conn.write(_frame(self.keepalive))
        if not self.script.split:
            await self.conn.write(_frame(data))
            return
        # Cut after the first byte, inside the first multi-byte character, between the CR and
        # LF of both line endings, and in the middle: every trap a parser can fall into.
        cuts = {1, len(data) // 2, len(data) - 3, len(data) - 1}
        multibyte = next((i for i, byte in enumerate(data) if byte >= 0x80), None)
        if multibyte is not None:
            cuts.add(multibyte + 1)
        start = 0
        for cut in sorted(c for c in cuts if 0 < c < len(data)) + [len(data)]:
            await self.conn.write(_frame(data[start:cut]))
            start = cut
            if cut < len(data):
                await self.conn.sleep(0.002)

    async def run(self, tokens: list[str], usage: dict | Literal[False]) -> bool:
        """Send the answer; False when the connection cannot be reused."""
        script, conn = self.script, self.conn
        await conn.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        await conn.sleep(script.first_delay)
        for raw in script.other_events:
            await conn.write(_frame(f"{raw}{self.newline}{self.newline}".encode()))
        if script.role_chunk:
            await self.event(self.chunk('{"role":"assistant","content":""}'))
        for thought in script.reasoning:
            await conn.sleep(script.delay)
            # As DeepSeek and vLLM send it: content null while the model thinks.
            await self.event(self.chunk(json.dumps({script.reasoning_field: thought, "content": None})))
        for sent in range(len(tokens) + 1):
            if script.drop_after == sent:
                conn.transport.close()  # type: ignore[union-attr]  # no terminating chunk
                return False
            if script.malformed_after == sent:
                await conn.write(_frame(f"data: {{not json{self.newline}{self.newline}".encode()))
                await conn.write(b"0\r\n\r\n")
                return True
            if script.error_event_after == sent:
                error = {
                    "message": "The upstream model failed mid-answer.",
                    "type": "server_error",
                    "code": "upstream_error",
                }
                await self.event(json.dumps({"error": error}))
                await conn.write(b"0\r\n\r\n")
                return False
            if sent == len(tokens):
                break
            await conn.sleep(script.delay)
            delta = json.dumps({"content": tokens[sent]}, ensure_ascii=script.ascii_json)
            if script.on_token is not None:
                script.on_token(sent)
            await self.event(self.chunk(delta, logprobs=self.logprobs(tokens[sent], sent)))

        for piece in script.refusal:
            await conn.sleep(script.delay)
            await self.event(self.chunk(json.dumps({"content": None, "refusal": piece})))
        for delta in _tool_call_deltas(script.tool_calls, script.tool_style, script.tool_content):
            await conn.sleep(script.delay)
            await self.event(self.chunk(json.dumps(delta, ensure_ascii=False)))
        finish = script.finish_reason
        if script.tool_calls and finish == "stop":
            finish = "tool_calls"
        notes = json.dumps(script.annotations, ensure_ascii=False) if script.annotations else ""
        if notes and script.annotations_in == "delta":
            await self.event(self.chunk(f'{{"annotations":{notes}}}'))
        if finish:
            in_finish = usage if script.usage_in_finish and usage else None
            delta, more = "{}", ""
            if notes and script.annotations_in == "finish":
                delta = f'{{"annotations":{notes}}}'
            elif notes and script.annotations_in == "message":
                content = json.dumps("".join(tokens), ensure_ascii=False)
                more = f',"message":{{"role":"assistant","content":{content},"annotations":{notes}}}'
            await self.event(self.chunk(delta, finish, in_finish, more=more))
        if self.include_usage and usage and not script.usage_in_finish:
            await self.event(f'{self.prefix}"choices":[],"usage":{json.dumps(usage)}}}')
        if script.done:
            await self.event("[DONE]")
        await conn.write(b"0\r\n\r\n")
        return True


def _tool_call_deltas(calls: list[dict], style: str, content: str) -> list[dict]:
    """The deltas that stream these tool calls, as the given kind of server sends them."""
    extra = {"null": {"content": None}, "empty": {"content": ""}, "absent": {}}[content]

    def piece(index: int, call: dict, first: bool, arguments: str) -> dict:
        part: dict[str, Any] = {"index": index} if style != "no_index" else {}
        if first:
            part |= {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": arguments}}
        else:
            part["function"] = {"arguments": arguments}
        return part

    def cut(text: str) -> list[str]:
        size = max(1, len(text) // 3)
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    deltas = []
    if style == "whole":
        for i, call in enumerate(calls):
            deltas.append({**extra, "tool_calls": [piece(i, call, True, call["arguments"])]})
    elif style == "parallel":
        deltas.append({**extra, "tool_calls": [piece(i, call, True, "") for i, call in enumerate(calls)]})
        pieces = [cut(call["arguments"]) for call in calls]
        for n in range(max(map(len, pieces), default=0)):
            for i, parts in enumerate(pieces):
                if n < len(parts):
                    deltas.append({"tool_calls": [piece(i, calls[i], False, parts[n])]})
    else:
        for i, call in enumerate(calls):
            deltas.append({**extra, "tool_calls": [piece(i, call, True, "")]})
            deltas += [{"tool_calls": [piece(i, call, False, part)]} for part in cut(call["arguments"])]
    return deltas


def _frame(data: bytes) -> bytes:
    """One piece of a chunked transfer-encoded body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _count_usage(body: dict, tokens: list[str], thoughts: int = 0) -> dict:
    prompt = 0
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            prompt += len(str(message.get("content", "")).split())
    prompt = max(prompt, 1)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": len(tokens) + thoughts,
        "total_tokens": prompt + len(tokens) + thoughts,
    }
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def _completion(number: int, model: str, tokens: list[str], usage: dict | Literal[False], finish: str | None) -> dict:
    """A non-streaming chat.completion (for requests with "stream": false)."""
    answer: dict[str, Any] = {
        "id": f"chatcmpl-{number:08d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(tokens)},
                "logprobs": None,
                "finish_reason": finish or "stop",
            }
        ],
    }
    if usage:
        answer["usage"] = usage
    return answer


async def _send_json(conn: _Connection, status: int, doc: Any, headers: dict[str, str] | None = None) -> bool:
    body = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
    kind = "text/plain; charset=utf-8" if isinstance(doc, str) else "application/json"
    head = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\nContent-Type: {kind}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    await conn.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return True


async def _send_error(conn: _Connection, status: int, body: dict | str | None, retry_after: float | str | None) -> bool:
    if body is None:
        message, kind, code = ERRORS.get(status, (f"HTTP {status}", "server_error", None))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return await _send_json(conn, status, body, headers)


def main() -> None:
    """Serve one default script until interrupted (for benchmarks in a separate process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--tokens", type=int, default=200, help="content chunks per answer")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    args = parser.parse_args()
    upstream = Upstream(port=args.port)
    upstream.set_default(tokens=[f" tok{i}" for i in range(args.tokens)], delay=args.delay)
    with upstream:
        print(f"Serving {upstream.base_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
