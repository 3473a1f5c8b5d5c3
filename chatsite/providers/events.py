"""What a provider's stream says, as small typed events, and the one error every failure becomes.

The chunk decoder (chunks.py) makes the events; the client (client.py) makes ProviderError of
every HTTP and network failure; nothing above the providers package sees a library exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatsite.lib.text import storable

MESSAGE_LIMIT = 300  # characters of a provider's own message shown to the user


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


def error_message(doc: object, api_key: str) -> str:
    """The message in an OpenAI-style error document ({"error": {"message": ...}}), or ""."""
    if not isinstance(doc, dict):
        return ""
    error = doc.get("error", doc)
    if isinstance(error, str):
        return clean_message(error, api_key)
    if isinstance(error, dict):
        for key in ("message", "detail", "msg"):
            if isinstance(error.get(key), str):
                return clean_message(error[key], api_key)
    return ""


def clean_message(message: str, api_key: str) -> str:
    """A provider's message made safe and short: no API key, one line, at most ~300 chars,
    nothing a database refuses (NUL, lone surrogates)."""
    if api_key:
        # Some gateways echo the key they rejected back in the message.
        message = message.replace(api_key, "[API key]")
    message = " ".join(storable(message).split())
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1].rstrip() + "…"
    return message
