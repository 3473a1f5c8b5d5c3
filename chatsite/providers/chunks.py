"""Pure decoding of a stream's chunks: the `data` of each SSE event in, typed events out.

No I/O. One ChunkDecoder per stream, because a character can straddle two chunks: a provider
that JSON-escapes an emoji as a surrogate pair may send `"\\ud83d"` in one chunk and
`"\\ude00"` in the next, and each half alone is text no database stores. The decoder holds a
trailing high surrogate back and joins it to the next piece of the same field; halves that
never pair, and NUL, are dropped (lib/text.py storable).
"""

from __future__ import annotations

import json

from chatsite.lib.text import storable
from chatsite.providers.events import (
    Citations,
    Delta,
    Event,
    Finish,
    Logprobs,
    ProviderError,
    Reasoning,
    Refusal,
    ToolCallDelta,
    Usage,
    error_message,
)

URL_CHARS = 2048  # a cited URL longer than this is dropped, not cut (a cut URL is a wrong one)
TITLE_CHARS = 300  # characters of a cited page's title kept
TOKEN_CHARS = 200  # characters of one logprobs token kept (tokens are short; this bounds a bad one)
TOP_LOGPROBS = 20  # the most alternatives a provider may send per token
FINISH_CHARS = 40
# Token counts above this are a provider's error (no request is that large); kept below it so
# that a few rounds' sum still fits the database's integer columns.
MAX_TOKENS_COUNTED = 100_000_000


class ChunkDecoder:
    """The events of one stream's chunks, in order (see the module docstring)."""

    __slots__ = ("api_key", "_held")

    def __init__(self, api_key: str = "") -> None:
        self.api_key = api_key  # never shown: scrubbed from a provider's error message
        self._held: dict[object, str] = {}  # field -> a high surrogate waiting for its other half

    def decode(self, payload: str) -> list[Event]:
        """The events in one streamed chunk (the hot path: one json.loads, a few dict lookups)."""
        try:
            chunk = json.loads(payload)
        except (ValueError, RecursionError):
            raise ProviderError("malformed", "The provider sent a stream line that is not JSON.") from None
        if type(chunk) is not dict:
            raise ProviderError("malformed", "The provider sent a stream chunk that is not an object.")
        if chunk.get("error"):
            # After the headers went out with 200, a failure can only be reported in the stream.
            message = error_message(chunk, self.api_key)
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
                        if self._held or not content.isascii() or "\x00" in content:
                            content = self._text("content", content)
                        if content:
                            events.append(Delta(content))
                    else:
                        self._delta_events(events, delta, content)
                # Absent or null on almost every chunk: one dict miss.
                if logprobs := choice.get("logprobs"):
                    _add_logprobs(events, logprobs)
                reason = choice.get("finish_reason")
                if reason and type(reason) is str:
                    # Some gateways put the whole message (with its annotations) in the final chunk.
                    message = choice.get("message")
                    if message and type(message) is dict and (notes := message.get("annotations")):
                        _add_citations(events, notes)
                    events.append(Finish(storable(reason[:FINISH_CHARS])))
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

    def _text(self, field: object, text: str) -> str:
        """A piece of one field's text as it can be stored, surrogate halves joined across chunks."""
        held = self._held.pop(field, None)
        if held is not None:
            text = held + text
        if text and "\ud800" <= text[-1] <= "\udbff":  # a high surrogate: its low half may come next
            self._held[field] = text[-1]
            text = text[:-1]
        return storable(text)

    def _delta_events(self, events: list[Event], delta: dict, content: object) -> None:
        """The events of a delta with more than text: thinking (before the text), the text, a
        refusal, tool calls, annotations."""
        thought = delta.get("reasoning_content") or delta.get("reasoning")
        if thought and type(thought) is str and (thought := self._text("reasoning", thought)):
            events.append(Reasoning(thought))
        # Empty strings are noise (the first chunk often has role=assistant, content="").
        if content and type(content) is str and (content := self._text("content", content)):
            events.append(Delta(content))
        refusal = delta.get("refusal")
        if refusal and type(refusal) is str and (refusal := self._text("refusal", refusal)):
            events.append(Refusal(refusal))
        calls = delta.get("tool_calls")
        if calls and type(calls) is list:
            self._tool_call_deltas(events, calls)
        # OpenRouter-style gateways stream annotations in a delta near the end.
        if notes := delta.get("annotations"):
            _add_citations(events, notes)

    def _tool_call_deltas(self, events: list[Event], calls: list) -> None:
        """delta.tool_calls as events: some gateways send a whole call in one chunk, others the
        name first and the arguments in fragments; ids come with or without OpenAI's "call_"."""
        for call in calls:
            if type(call) is not dict:
                continue
            function = call.get("function")
            function = function if type(function) is dict else {}
            index, ident = call.get("index"), call.get("id")
            name, arguments = function.get("name"), function.get("arguments")
            if type(arguments) is dict:  # a few servers send the arguments as an object
                arguments = json.dumps(arguments, ensure_ascii=False)
            index = index if type(index) is int else None
            events.append(
                ToolCallDelta(
                    index,
                    storable(ident) if type(ident) is str else "",
                    storable(name) if type(name) is str else "",
                    self._text(("tool", index), arguments) if type(arguments) is str else "",
                )
            )


def decode_chunk(payload: str, api_key: str = "") -> list[Event]:
    """The events of a single chunk (a stream of one): for tests and one-off uses."""
    return ChunkDecoder(api_key).decode(payload)


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
                "url": storable(url.strip()),
                "title": storable(" ".join(title.split())[:TITLE_CHARS]) if type(title) is str else "",
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
                    alternatives.append([_token(alt["token"]), _logprob(alt.get("logprob"))])
        tokens.append([_token(item["token"]), _logprob(item.get("logprob")), alternatives])
    if tokens:
        events.append(Logprobs(tuple(tokens)))


def _token(text: str) -> str:
    # A token may be half a character (byte-level tokenizers): kept as what can be stored.
    return storable(text[:TOKEN_CHARS])


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
    return min(value, MAX_TOKENS_COUNTED) if type(value) is int and value >= 0 else 0
