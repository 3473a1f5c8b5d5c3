"""The Chat Completions client against a real loopback provider (tests/upstream.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from contextlib import aclosing
from email.utils import formatdate

import pytest
from yarl import URL

from chatsite.providers.client import list_models, new_session, stream_chat, stream_reads
from chatsite.providers.events import (
    Citations,
    Delta,
    Event,
    Finish,
    Logprobs,
    ProviderError,
    Reasoning,
    Refusal,
    Usage,
)
from chatsite.providers.shaping import build_body
from tests.upstream import Upstream

KEY = "sk-test-0123456789abcdef"
MODEL = "openai/gpt-4o"
MESSAGES = [{"role": "user", "content": "Say hello"}]  # two prompt "tokens" for the upstream
HELLO = [Delta("Hello"), Delta(","), Delta(" world"), Delta("!")]


@pytest.fixture(scope="module")
def server() -> Iterator[Upstream]:
    with Upstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(server: Upstream) -> Upstream:
    server.reset()
    return server


async def collect(upstream: Upstream, key: str = KEY, **kw: float) -> list[Event]:
    body = build_body(MODEL, MESSAGES)
    return [event async for event in stream_chat(upstream.base_url, key, body, **kw)]


async def fail(upstream: Upstream, key: str = KEY, **kw: float) -> tuple[list[Event], ProviderError]:
    """The events yielded before the stream failed, and its ProviderError."""
    events: list[Event] = []
    with pytest.raises(ProviderError) as caught:
        async for event in stream_chat(upstream.base_url, key, build_body(MODEL, MESSAGES), **kw):
            events.append(event)
    return events, caught.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The normal stream and its variants


async def test_a_normal_stream_yields_deltas_then_finish_then_usage(upstream: Upstream) -> None:
    assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(2, 4, 6)]


async def test_the_request_streams_with_usage_bearer_auth_and_the_model_untouched(
    upstream: Upstream,
) -> None:
    await collect(upstream)
    request = upstream.requests[-1]
    assert request["method"] == "POST"
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert request["headers"]["accept"] == "text/event-stream"
    assert request["json"] == {
        "model": "openai/gpt-4o",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_an_empty_api_key_sends_no_authorization_header(upstream: Upstream) -> None:
    await collect(upstream, key="")
    assert "authorization" not in upstream.requests[-1]["headers"]


async def test_a_trailing_slash_on_the_base_url_is_ignored(upstream: Upstream) -> None:
    body = build_body(MODEL, MESSAGES)
    events = [e async for e in stream_chat(upstream.base_url + "/", KEY, body)]
    assert events[-1] == Usage(2, 4, 6)
    assert upstream.requests[-1]["path"] == "/v1/chat/completions"


async def test_usage_in_the_finish_chunk_is_reported(upstream: Upstream) -> None:
    upstream.script(usage_in_finish=True, usage={"prompt_tokens": 5, "completion_tokens": 4})
    assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(5, 4, 9)]


async def test_a_stream_without_usage_is_complete(upstream: Upstream) -> None:
    upstream.script(usage=False)
    assert await collect(upstream) == [*HELLO, Finish("stop")]


async def test_a_stream_without_the_role_chunk_is_the_same(upstream: Upstream) -> None:
    upstream.script(role_chunk=False)
    assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(2, 4, 6)]


async def test_keepalive_comments_are_skipped(upstream: Upstream) -> None:
    upstream.script(keepalive=True)
    assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(2, 4, 6)]


async def test_crlf_line_endings_are_understood(upstream: Upstream) -> None:
    upstream.script(crlf=True)
    assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(2, 4, 6)]


async def test_events_split_across_network_reads_arrive_whole(upstream: Upstream) -> None:
    tokens = ["Grüße", " 👋🏽", " 家族👨\u200d👩\u200d👧"]
    upstream.script(tokens=tokens, crlf=True, split=True, keepalive=True)
    events = await collect(upstream)
    assert events == [*(Delta(t) for t in tokens), Finish("stop"), Usage(2, 3, 5)]


async def test_a_finish_without_done_is_a_complete_answer(upstream: Upstream) -> None:
    upstream.script(done=False)
    assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(2, 4, 6)]


async def test_a_stream_ending_with_neither_done_nor_finish_is_dropped(upstream: Upstream) -> None:
    upstream.script(done=False, finish_reason=None, usage=False)
    events, error = await fail(upstream)
    assert events == HELLO
    assert error.code == "dropped"


async def test_a_huge_chunk_arrives_as_one_delta(upstream: Upstream) -> None:
    upstream.script(tokens=["a"], huge_chunk=300_000)
    events = await collect(upstream)
    assert isinstance(events[1], Delta)
    assert len(events[1].text) == 300_000
    assert events[-2:] == [Finish("stop"), Usage(2, 2, 4)]


async def test_an_event_over_one_mib_is_malformed(upstream: Upstream) -> None:
    upstream.script(tokens=["a"], huge_chunk=1_200_000)
    events, error = await fail(upstream)
    assert events == [Delta("a")]
    assert error.code == "malformed"
    assert error.message == "The provider sent an event larger than 1 MiB."


async def test_a_shared_client_is_reused_and_left_open(upstream: Upstream) -> None:
    async with new_session() as client:
        for _ in range(3):
            body = build_body(MODEL, MESSAGES)
            events = [e async for e in stream_chat(upstream.base_url, KEY, body, client=client)]
            assert events[-1] == Usage(2, 4, 6)
        assert not client.closed
    assert upstream.connections == 1  # keep-alive: one connection for three answers


# HTTP errors


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "bad_request", "The provider refused the request (HTTP 400): Invalid request."),
        (401, "auth", "The provider rejected the API key (HTTP 401): Incorrect API key provided."),
        (403, "auth", "The provider refused access with this API key (HTTP 403): You are not"),
        (404, "not_found", "The provider does not know this model or endpoint (HTTP 404): The mod"),
        (500, "server", "The provider had an internal error (HTTP 500): The server had an error"),
        (503, "server", "The provider is unavailable or overloaded (HTTP 503): The engine is"),
    ],
)
async def test_http_errors_become_clear_provider_errors(
    upstream: Upstream, status: int, code: str, message: str
) -> None:
    upstream.script(status=status)
    events, error = await fail(upstream)
    assert events == []
    assert (error.code, error.status, error.retry_after) == (code, status, None)
    assert error.message.startswith(message)
    assert str(error) == error.message


async def test_rate_limiting_reports_when_to_retry(upstream: Upstream) -> None:
    upstream.script(status=429, retry_after=20)
    _, error = await fail(upstream)
    assert (error.code, error.status, error.retry_after) == ("rate_limited", 429, 20.0)
    assert error.message == (
        "Rate limited by the provider (HTTP 429); retry after 20 s: Rate limit reached for requests."
    )


async def test_retry_after_may_be_an_http_date(upstream: Upstream) -> None:
    upstream.script(status=429, retry_after=formatdate(time.time() + 30, usegmt=True))
    _, error = await fail(upstream)
    assert error.retry_after is not None
    assert 28 <= error.retry_after <= 31


async def test_a_long_provider_message_is_shortened(upstream: Upstream) -> None:
    upstream.script(status=400, error_body={"error": {"message": "Bad\n input. " * 200}})
    _, error = await fail(upstream)
    assert len(error.message) < 400
    assert "\n" not in error.message
    assert error.message.endswith("…")


async def test_a_plain_text_error_body_is_quoted(upstream: Upstream) -> None:
    upstream.script(status=502, error_body="upstream connect error")
    _, error = await fail(upstream)
    assert error.message == ("The provider is unavailable or overloaded (HTTP 502): upstream connect error")


# Network failures


async def test_a_closed_port_is_a_connect_error() -> None:
    body = build_body(MODEL, MESSAGES)
    with pytest.raises(ProviderError) as caught:
        async for _ in stream_chat(f"http://127.0.0.1:{closed_port()}/v1", KEY, body):
            pass
    assert caught.value.code == "connect"
    assert caught.value.message.startswith("Could not connect to the provider at 127.0.0.1")


async def test_a_base_url_that_is_not_a_url_is_a_connect_error() -> None:
    with pytest.raises(ProviderError) as caught:
        async for _ in stream_chat("api.example.com/v1", KEY, build_body(MODEL, MESSAGES)):
            pass
    assert caught.value.code == "connect"


async def test_a_provider_that_never_answers_times_out(upstream: Upstream) -> None:
    upstream.script(hang=True)
    started = time.monotonic()
    _, error = await fail(upstream, idle_timeout=0.2)
    assert error.code == "timeout"
    assert error.message == "The provider sent nothing for 0.2 s; gave up waiting."
    assert time.monotonic() - started < 1
    assert await upstream.wait_disconnects_async(1)


async def test_silence_in_the_middle_of_a_stream_times_out(upstream: Upstream) -> None:
    upstream.script(tokens=["a", "b"], delay=0.5)
    events, error = await fail(upstream, idle_timeout=0.15)
    assert events == []
    assert error.code == "timeout"


async def test_a_dropped_connection_keeps_the_deltas_already_yielded(upstream: Upstream) -> None:
    upstream.script(drop_after=2)
    events, error = await fail(upstream)
    assert events == HELLO[:2]
    assert error.code == "dropped"


async def test_a_line_that_is_not_json_is_malformed(upstream: Upstream) -> None:
    upstream.script(malformed_after=1)
    events, error = await fail(upstream)
    assert events == HELLO[:1]
    assert error.code == "malformed"


async def test_an_error_event_in_a_200_stream_is_an_upstream_error(upstream: Upstream) -> None:
    upstream.script(error_event_after=2)
    events, error = await fail(upstream)
    assert events == HELLO[:2]
    assert error.code == "upstream"
    assert error.message == ("The provider reported an error during the answer: The upstream model failed mid-answer.")


# Stopping early


async def test_closing_the_stream_early_closes_the_upstream_connection(upstream: Upstream) -> None:
    upstream.script(tokens=["x"] * 100, delay=0.02)
    events = stream_chat(upstream.base_url, KEY, build_body(MODEL, MESSAGES))
    assert await anext(events) == Delta("x")
    assert await anext(events) == Delta("x")
    started = time.monotonic()
    await events.aclose()
    assert await upstream.wait_disconnects_async(1, timeout=1)
    assert time.monotonic() - started < 0.5
    assert upstream.active_streams == 0


async def test_cancelling_the_consuming_task_closes_the_upstream_connection(
    upstream: Upstream,
) -> None:
    upstream.script(tokens=["x"] * 100, delay=0.02)
    received: list[Event] = []

    async def consume() -> None:
        # A plain `async for`: the cancellation arrives inside the generator, which closes.
        async for event in stream_chat(upstream.base_url, KEY, build_body(MODEL, MESSAGES)):
            received.append(event)

    task = asyncio.create_task(consume())
    while len(received) < 2:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await upstream.wait_disconnects_async(1, timeout=1)


async def test_aclosing_a_shared_client_stream_closes_only_that_connection(
    upstream: Upstream,
) -> None:
    upstream.script(tokens=["x"] * 100, delay=0.02)
    async with new_session() as client:
        body = build_body(MODEL, MESSAGES)
        async with aclosing(stream_chat(upstream.base_url, KEY, body, client=client)) as events:
            async for _ in events:
                break
        assert await upstream.wait_disconnects_async(1, timeout=1)
        assert [e async for e in stream_chat(upstream.base_url, KEY, body, client=client)][-1] == (Usage(2, 4, 6))


# The API key stays secret


@pytest.mark.parametrize(
    "script",
    [
        {"status": 401, "error_body": {"error": {"message": f"Incorrect API key: {KEY}"}}},
        {"status": 403, "error_body": {"error": f"key {KEY} is disabled"}},
        {"status": 429, "error_body": {"message": f"{KEY} over quota"}},
        {"status": 500, "error_body": f"crash while serving {KEY}"},
        {"hang": True},
        {"drop_after": 1},
        {"malformed_after": 0},
    ],
)
async def test_the_api_key_never_appears_in_an_error(upstream: Upstream, script: dict) -> None:
    upstream.script(**script)
    _, error = await fail(upstream, idle_timeout=0.2)
    assert KEY not in error.message
    assert KEY not in repr(error)


# Listing models


async def test_list_models_returns_the_data_list(upstream: Upstream) -> None:
    models = await list_models(upstream.base_url, KEY)
    assert [m["id"] for m in models] == ["test/model-a", "test/model-b", "openai/gpt-4o"]
    request = upstream.requests[-1]
    assert (request["method"], request["path"]) == ("GET", "/v1/models")
    assert request["headers"]["authorization"] == f"Bearer {KEY}"


async def test_list_models_on_a_server_without_the_endpoint_is_not_found(
    upstream: Upstream,
) -> None:
    upstream.models_status = 404
    with pytest.raises(ProviderError) as caught:
        await list_models(upstream.base_url, KEY)
    assert (caught.value.code, caught.value.status) == ("not_found", 404)


async def test_list_models_on_a_closed_port_is_a_connect_error() -> None:
    with pytest.raises(ProviderError) as caught:
        await list_models(f"http://127.0.0.1:{closed_port()}/v1", KEY)
    assert caught.value.code == "connect"


async def reads_of(upstream: Upstream, hold=None) -> list[list[Event]]:
    body = build_body(MODEL, MESSAGES)
    return [events async for events in stream_reads(upstream.base_url, KEY, body, hold=hold)]


async def test_held_reads_gather_the_tokens_of_a_window(upstream: Upstream) -> None:
    tokens = [f"t{i} " for i in range(20)]
    upstream.script(tokens=tokens, delay=0.02)
    unheld = await reads_of(upstream)
    upstream.script(tokens=tokens, delay=0.02)
    held = await reads_of(upstream, hold=lambda: 0.1)

    def texts(reads: list[list[Event]]) -> list[str]:
        return ["".join(e.text for e in events if type(e) is Delta) for events in reads]

    assert "".join(texts(held)) == "".join(texts(unheld)) == "".join(tokens)
    # Without holding, about one read per token; held for 0.1 s, about one per five tokens.
    assert len([t for t in texts(unheld) if t]) >= 15
    assert len([t for t in texts(held) if t]) <= 8
    # The first text is never held back: it goes out alone, at once.
    assert [t for t in texts(held) if t][0] == "t0 "
    assert Finish("stop") in [event for events in held for event in events]


async def test_a_held_stream_ending_without_done_never_leaves_its_connection_paused_in_the_pool(
    upstream: Upstream,
) -> None:
    # After the first token reading is held; meanwhile the rest of the answer and the end of
    # the body arrive, so the next read both carries text and completes the body (aiohttp
    # hands the connection back to its pool right then).
    upstream.script(tokens=["a", "b", "c"], delay=0.01, done=False)
    for _ in range(5):
        upstream.script(tokens=["x"])
    options = {"hold": lambda: 0.2, "idle_timeout": 2.0}
    async with new_session() as client:
        first = [
            e async for e in stream_chat(upstream.base_url, KEY, build_body(MODEL, MESSAGES), client=client, **options)
        ]
        assert "".join(e.text for e in first if type(e) is Delta) == "abc"
        for _ in range(5):  # each answered at once on the same connection, not after the idle timeout
            events = [
                e
                async for e in stream_chat(
                    upstream.base_url, KEY, build_body(MODEL, MESSAGES), client=client, **options
                )
            ]
            assert Delta("x") in events
    assert upstream.connections == 1


async def test_named_sse_events_are_skipped_and_the_answer_streams(upstream: Upstream) -> None:
    upstream.script(other_events=["event: ping\ndata: {}", "event: vendor.status\ndata: <html>busy</html>"])
    assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(2, 4, 6)]
    upstream.script(other_events=['event: message\ndata: {"choices":[{"delta":{"content":"First. "}}]}'])
    assert (await collect(upstream))[0] == Delta("First. ")  # a message event by name is one
    upstream.script(other_events=['data: {"error": {"message": "overloaded"}}'])
    _, error = await fail(upstream)
    assert error.code == "upstream" and "overloaded" in error.message


@pytest.mark.parametrize("name", ["reasoning_content", "reasoning"])
async def test_thinking_streams_apart_from_the_answer_with_its_token_count(upstream: Upstream, name: str) -> None:
    upstream.script(reasoning=["Let me ", "think."], reasoning_field=name, tokens=["Yes", "."])
    events = await collect(upstream)
    assert events[:4] == [Reasoning("Let me "), Reasoning("think."), Delta("Yes"), Delta(".")]
    assert events[-1] == Usage(2, 4, 6, reasoning_tokens=2)


async def test_a_refusal_is_its_own_event(upstream: Upstream) -> None:
    upstream.script(tokens=[], refusal=["I can't ", "help with that."])
    events = await collect(upstream)
    assert events[:2] == [Refusal("I can't "), Refusal("help with that.")]
    assert Finish("stop") in events


# Citations (annotations) and token probabilities (logprobs), seed 003

NOTES = [
    {
        "type": "url_citation",
        "url_citation": {"url": "https://example.com/a", "title": "Page A", "start_index": 0, "end_index": 5},
    },
    {"type": "url_citation", "url_citation": {"url": "https://example.com/b", "title": "  Page\nB ", "start_index": 7}},
]
CITED = Citations(
    (
        {"url": "https://example.com/a", "title": "Page A", "start_index": 0, "end_index": 5},
        {"url": "https://example.com/b", "title": "Page B", "start_index": 7, "end_index": None},
    )
)


@pytest.mark.parametrize("where", ["delta", "finish", "message"])
async def test_citations_are_read_from_a_late_delta_the_finish_chunk_or_its_message(
    upstream: Upstream, where: str
) -> None:
    upstream.script(annotations=NOTES, annotations_in=where)
    events = await collect(upstream)
    assert events[:4] == HELLO
    assert events.count(CITED) == 1
    assert Finish("stop") in events


async def test_logprobs_come_with_each_token_when_asked_for(upstream: Upstream) -> None:
    upstream.script(
        tokens=["Hi", " there"],
        logprobs=[(-0.01, [("Hello", -4.6)]), (-1.9, [(" you", -0.3), (" all", -2.5)])],
    )
    body = build_body(MODEL, MESSAGES, {"logprobs": True, "top_logprobs": 2})
    events = [event async for event in stream_chat(upstream.base_url, KEY, body)]
    assert events[:4] == [
        Delta("Hi"),
        Logprobs((["Hi", -0.01, [["Hi", -0.01], ["Hello", -4.6]]],)),
        Delta(" there"),
        Logprobs(([" there", -1.9, [[" there", -1.9], [" you", -0.3]]],)),
    ]
    assert upstream.requests[-1]["json"]["logprobs"] is True


async def test_no_logprobs_events_when_the_request_did_not_ask(upstream: Upstream) -> None:
    upstream.script(logprobs=[(-0.5, [])] * 4)
    assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(2, 4, 6)]


async def test_text_that_arrived_before_a_drop_is_kept_even_when_the_reader_was_busy(upstream: Upstream) -> None:
    # The server sends two tokens and drops the connection while the reader is still busy with
    # the first (publishing it on a slow channel layer): aiohttp raises the drop before handing
    # over what it had received, and that text must not be lost.
    upstream.script(tokens=["Part", "ial", " more"], drop_after=2, delay=0.01)
    texts = []
    with pytest.raises(ProviderError) as caught:
        async for events in stream_reads(upstream.base_url, KEY, build_body(MODEL, MESSAGES), hold=lambda: 0.02):
            texts += [event.text for event in events if isinstance(event, Delta)]
            await asyncio.sleep(0.3)
    assert caught.value.code == "dropped"
    assert "".join(texts) == "Partial"


# Outgoing proxies (HTTP_PROXY / HTTPS_PROXY / NO_PROXY)


class ForwardProxy:
    """A real HTTP forward proxy on loopback, one request per connection: it takes the
    absolute-form request line a client sends a proxy, notes the host asked for, and passes the
    request to `target` (host, port) and its answer back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.seen: list[str] = []

    async def __aenter__(self) -> ForwardProxy:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, rest = head.split(b"\r\n", 1)
        method, target, version = line.decode().split(" ")
        url = URL(target)
        self.seen.append(url.host)
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        up_writer.write(f"{method} {url.path_qs} {version}\r\n".encode() + rest)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_a_provider_is_reached_through_the_proxy_the_environment_names(upstream, monkeypatch) -> None:
    async with ForwardProxy(("127.0.0.1", upstream.port)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        # A host only the proxy can reach (it does not resolve here).
        base = f"http://provider.invalid:{upstream.port}/v1"
        events = [e async for e in stream_chat(base, KEY, build_body(MODEL, MESSAGES))]
        assert events == [*HELLO, Finish("stop"), Usage(2, 4, 6)]
        assert proxy.seen == ["provider.invalid"]
        # NO_PROXY names it: no proxy (and no way there).
        monkeypatch.setenv("NO_PROXY", "provider.invalid")
        with pytest.raises(ProviderError) as caught:
            async for _ in stream_chat(base, KEY, build_body(MODEL, MESSAGES)):
                pass
        assert caught.value.code == "connect" and proxy.seen == ["provider.invalid"]


async def test_loopback_providers_never_go_through_a_proxy(upstream, monkeypatch) -> None:
    async with ForwardProxy(("127.0.0.1", upstream.port)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        assert await collect(upstream) == [*HELLO, Finish("stop"), Usage(2, 4, 6)]  # 127.0.0.1
        localhost = upstream.base_url.replace("127.0.0.1", "localhost")
        events = [e async for e in stream_chat(localhost, KEY, build_body(MODEL, MESSAGES))]
        assert Delta("Hello") in events
        assert proxy.seen == []
