"""The generation task: streams one answer from the provider to the conversation's group.

It runs as its own asyncio task, apart from any socket, so closing a tab neither stops nor
loses the answer, and a "stop" frame is handled at once. Per token it only appends to a list;
frames are coalesced and the database is written on a timer (see streaming-design.md).
"""

import asyncio
import logging
import time
import weakref
from contextlib import suppress

import aiohttp
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chatsite.chat.citations import add_citations
from chatsite.chat.models import Message
from chatsite.chat.payloads import message_payload
from chatsite.chat.structured import check_json_answer
from chatsite.chat.turns import UpstreamRequest
from chatsite.chat.usage import estimate_usage
from chatsite.providers.client import (
    Citations,
    Delta,
    Finish,
    Logprobs,
    ProviderError,
    Reasoning,
    Refusal,
    ToolCallDelta,
    Usage,
    new_session,
    stream_reads,
    token_field_retry,
)
from chatsite.providers.models import LanguageModel
from chatsite.rows import update_rows
from chatsite.tools import registry
from chatsite.tools.calls import Round, round_messages
from chatsite.tools.http import ToolFailed

log = logging.getLogger(__name__)

# Live generations of this process, by message id: keeps tasks from being garbage-collected
# and tells the reaper which "streaming" rows are alive here.
RUNNING: dict[int, "Generation"] = {}
HEARTBEAT_SECONDS = 10.0
# Token probabilities kept per answer (about 40 bytes a token, more with alternatives);
# the tokens after these are neither stored nor sent.
LOGPROB_TOKENS = 4000
# What an answer's end writes.
# The message fields the model's text events go to, in the order of Generation.streams.
STREAM_FIELDS = {Delta: "text", Reasoning: "reasoning", Refusal: "refusal"}
STREAMED = list(STREAM_FIELDS.values())
USAGE_FIELDS = ["prompt_tokens", "completion_tokens", "total_tokens", "reasoning_tokens", "cached_tokens"]
FINAL_FIELDS = [
    *STREAMED,
    "citations",
    "logprobs",
    "status",
    "finish_reason",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "usage_estimated",
    "json_check",
    "tool_calls",
    "context_tokens",
    "first_token_ms",
    "duration_ms",
    "updated",
]
# A streaming row not touched for this long belongs to a process that is gone.
STALE_SECONDS = 60.0

# Per event loop (a server has one; tests make one per test): a client session's pooled
# connections belong to the loop that opened them.
_sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = weakref.WeakKeyDictionary()
_reapers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()
_flusher_tasks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


def http_client() -> aiohttp.ClientSession:
    """One pooled client per process: no TLS handshake per answer."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = _sessions[loop] = new_session()
    return session


def coalesce_window() -> float:
    """Seconds deltas wait to share a frame: STREAM_COALESCE_MS when the server is quiet; under
    load, wide enough that all answers together send about STREAM_FRAME_RATE frames a second
    (each frame costs the same whatever it carries), up to STREAM_COALESCE_MAX_MS."""
    low = settings.STREAM_COALESCE_MS / 1000
    return max(low, min(settings.STREAM_COALESCE_MAX_MS / 1000, len(RUNNING) / settings.STREAM_FRAME_RATE))


def group_for(conversation_code) -> str:
    return f"conv-{str(conversation_code).replace('-', '')}"


def control_group_for(conversation_code) -> str:
    return f"ctl-{str(conversation_code).replace('-', '')}"


class Growing:
    """Text that arrives in pieces: joined only when needed, with what was already published."""

    __slots__ = ("parts", "published_parts", "start")

    def __init__(self, before: str = "") -> None:
        # A continued answer starts from its text so far, already published.
        self.parts: list[str] = [before] if before else []
        self.published_parts = self.start = len(self.parts)

    @property
    def fresh(self) -> bool:
        """Something arrived since the last take."""
        return self.published_parts < len(self.parts)

    def take(self) -> str:
        """What arrived since the last take."""
        new = "".join(self.parts[self.published_parts :])
        self.published_parts = len(self.parts)
        return new

    def published(self) -> str:
        return "".join(self.parts[: self.published_parts])

    def all(self) -> str:
        return "".join(self.parts)

    def new(self) -> str:
        """What this generation added."""
        return "".join(self.parts[self.start :])


class Generation:
    def __init__(self, conversation_code, answer: Message, request: UpstreamRequest):
        self.conversation = str(conversation_code)
        self.answer = answer
        self.answer_id = str(answer.code)
        self.request = request
        self.group = group_for(conversation_code)
        self.layer = get_channel_layer()
        # What the model writes, by the message field it goes to: the answer, its thinking
        # (shown apart, never sent back upstream) and a refusal.
        self.streams = {field: Growing(getattr(answer, field)) for field in STREAMED}
        # A continued answer adds this generation's usage to what it had.
        self.usage_before = {field: getattr(answer, field) or 0 for field in USAGE_FIELDS}
        self.usage_seen = False
        # Citations and token probabilities only grow; deltas carry what is new since the last one.
        self.citations: list[dict] = list(answer.citations or [])
        self.new_citations: list[dict] = []
        self.logprobs: list[list] = list(answer.logprobs or [])
        self.logprobs_published = len(self.logprobs)
        self.wrote = False  # the model has written something in this generation
        # Tool calls: those of earlier rounds (run), and the round streaming now.
        self.calls: list[dict] = list(answer.tool_calls or [])
        self.round = Round(1 + max((call.get("round", 0) for call in self.calls), default=-1))
        self.changed_calls: list[dict] | None = None  # the round whose calls tabs have not seen
        # How much of the text the provider has already been sent (a continued answer's so far).
        self.text_sent = len(answer.text)
        # The last request's own counts: what the conversation now carries into the next one.
        self.last_usage: Usage | None = None
        self.seq = 0
        self.stop_requested = False
        self.task: asyncio.Task | None = None
        # What the process-wide flusher last wrote (see _flush_forever).
        self.saved_parts = 0
        self.last_write = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> asyncio.Task:
        self.task = asyncio.get_running_loop().create_task(self.run(), name=f"generation-{self.answer.code}")
        RUNNING[self.answer.pk] = self
        _ensure_background(_flusher_tasks, _flush_forever)
        return self.task

    def stop(self) -> None:
        if self.task and not self.task.done():
            self.stop_requested = True
            self.task.cancel()

    async def run(self) -> None:
        answer = self.answer
        control = await self.layer.new_channel()
        await self.layer.group_add(control_group_for(self.conversation), control)
        listener = asyncio.create_task(self._listen(control))
        started = time.monotonic()
        try:
            body = self.request.body or {}
            try:
                await self._stream(body, started)
            except ProviderError as error:
                # A provider that wants the other length-limit field says so in a 400: try once
                # more with it, and remember it for the model.
                retry = None if self.wrote else token_field_retry(body, error)
                if retry is None:
                    raise
                body, field = retry
                await self._stream(body, started)
                await _remember_token_field(self.request.model_id, field)
            # The tool loop: run what the model called, give it the results, let it go on.
            rounds = 0
            while calls := self.round.close(len(self.streams["text"].all())):
                if rounds == settings.CHAT_TOOL_ROUNDS:
                    raise ToolLimit(settings.CHAT_TOOL_ROUNDS)
                rounds += 1
                body = await self._run_round(body, calls)
                await self._stream(body, started)
            answer.status = Message.Status.COMPLETE
        except ProviderError as error:
            answer.status = Message.Status.ERROR
            answer.error = error.message
        except ToolLimit as limit:
            answer.status = Message.Status.ERROR
            answer.error = (
                f"Stopped after {limit.rounds} rounds of tool calls (the limit); the model was still calling tools."
            )
        except asyncio.CancelledError:
            # Stop frame, or the server shutting down; either way keep what was said.
            asyncio.current_task().uncancel()
            if self.stop_requested:
                answer.status = Message.Status.STOPPED
            else:
                answer.status = Message.Status.INTERRUPTED
                answer.error = "The server stopped while answering."
        except Exception:
            log.exception("generation %s failed", answer.code)
            answer.status = Message.Status.ERROR
            answer.error = "chatsite failed while streaming this answer; the text so far is kept."
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            # Calls cut short or never run are kept, closed (an id, valid for sending back later).
            self.round.close(len(self.streams["text"].all()))
            for call in self.calls + self.round.calls:
                if call["status"] in ("streaming", "running"):
                    call["status"] = "stopped"
            answer.tool_calls = self.calls + self.round.calls
            answer.duration_ms = round((time.monotonic() - started) * 1000)
            for field, stream in self.streams.items():
                setattr(answer, field, stream.all())
            answer.citations = self.citations
            answer.logprobs = self.logprobs
            if not self.usage_seen and self.wrote:
                # No usage from the provider (some gateways send none, a stopped stream never
                # gets it): estimate it, and say so.
                written = "".join(stream.new() for stream in self.streams.values())
                prompt, completion = estimate_usage(self.request.body or {}, written)
                answer.prompt_tokens = self.usage_before["prompt_tokens"] + prompt
                answer.completion_tokens = self.usage_before["completion_tokens"] + completion
                answer.total_tokens = answer.prompt_tokens + answer.completion_tokens
                answer.usage_estimated = True
                answer.context_tokens = prompt + completion
            elif self.last_usage is not None:
                last = self.last_usage
                # Reasoning is not sent back upstream, so it takes no room in the next request.
                answer.context_tokens = last.prompt_tokens + last.completion_tokens - last.reasoning_tokens
            if answer.status == Message.Status.COMPLETE:
                answer.json_check = check_json_answer(self.request.body or {}, answer.text)
            try:
                await self._publish_pending()
                await database_sync_to_async(self._save_final)()
                await self.layer.group_send(
                    self.group, {"type": "chat.done", "conversation": self.conversation, "message": self._payload()}
                )
                await self.layer.group_discard(control_group_for(self.conversation), control)
            finally:
                RUNNING.pop(answer.pk, None)

    async def _stream(self, body: dict, started: float) -> None:
        """Read the answer to body into the streams, publishing after each network read."""
        answer = self.answer
        # Reading is held for the coalescing window after each read with text, so the
        # tokens of a window arrive in one read and go out in one frame.
        reads = stream_reads(
            self.request.base_url,
            self.request.api_key,
            body,
            client=http_client(),
            connect_timeout=settings.PROVIDER_CONNECT_TIMEOUT,
            idle_timeout=settings.PROVIDER_IDLE_TIMEOUT,
            hold=coalesce_window,
        )
        try:
            async for events in reads:
                for event in events:
                    if (field := STREAM_FIELDS.get(type(event))) is not None:
                        if not self.wrote:
                            self.wrote = True
                            answer.first_token_ms = round((time.monotonic() - started) * 1000)
                        self.streams[field].parts.append(event.text)
                    elif type(event) is ToolCallDelta:
                        if not self.wrote:
                            self.wrote = True
                            answer.first_token_ms = round((time.monotonic() - started) * 1000)
                        self.round.add(event)
                        self.changed_calls = self.round.calls
                    elif type(event) is Logprobs:
                        if room := LOGPROB_TOKENS - len(self.logprobs):
                            self.logprobs.extend(event.tokens[:room])
                    elif type(event) is Citations:
                        self.new_citations += add_citations(self.citations, event.items)
                    elif type(event) is Finish:
                        answer.finish_reason = event.reason[:40]
                    elif type(event) is Usage:
                        self.usage_seen = True
                        self.last_usage = event
                        for field, before in self.usage_before.items():
                            setattr(answer, field, (before + getattr(event, field)) or None)
                await self._publish_pending()
        finally:
            # Closes the HTTP response at once: the provider stops generating (and billing).
            await reads.aclose()
        # A next round's usage adds to this one's.
        self.usage_before = {field: getattr(answer, field) or 0 for field in USAGE_FIELDS}

    async def _run_round(self, body: dict, calls: list[dict]) -> dict:
        """Run the calls the model just made (at the same time: they are independent by the
        API's contract) and return the next request: the same with the calls and results added."""
        text = self.streams["text"]
        written = text.all()
        runnable = [call for call in calls if call["status"] == "streaming"]
        for call in runnable:
            call["status"] = "running"
        self.changed_calls = calls
        await self._publish_pending()
        specs = {spec.name: spec for spec in self.request.tools}
        await asyncio.gather(*(self._run_call(specs.get(call["name"]), call) for call in runnable))
        self.calls += calls
        self.round = Round(self.round.number + 1)
        self.changed_calls = calls
        if written and not written.endswith("\n"):
            text.parts.append("\n\n")  # the next round's text starts a new paragraph
        await self._publish_pending()
        await database_sync_to_async(self._save_calls)()
        said = written[self.text_sent :]
        self.text_sent = len(text.all())
        body = {**body, "messages": [*body["messages"], *round_messages(said, calls)]}
        if body.get("tool_choice") not in (None, "auto", "none"):
            # "required" (or one named function) asks for a call; having made it, the model
            # must be free to answer, or it would call tools until the round limit.
            body["tool_choice"] = "auto"
        return body

    async def _run_call(self, spec: "registry.ToolSpec | None", call: dict) -> None:
        began = time.monotonic()
        try:
            if spec is None:
                raise ToolFailed(f"There is no tool named {call['name'][:64]!r} here.")
            call["result"] = await registry.run(
                spec,
                call["arguments"],
                user_id=self.request.user_id,
                conversation=self.conversation,
                session=http_client(),
            )
            call["status"] = "done"
        except ToolFailed as error:
            # The model gets the failure as the result and can say so or try otherwise.
            call["result"], call["status"] = f"Error: {error}", "error"
        except Exception:
            log.exception("tool %s failed", call["name"])
            call["result"], call["status"] = "Error: the tool failed unexpectedly.", "error"
        call["ms"] = round((time.monotonic() - began) * 1000)

    def _save_calls(self) -> None:
        # Written when a round's results are in: a server stopping later does not lose them.
        Message.objects.filter(pk=self.answer.pk).update(tool_calls=self.calls, updated=timezone.now())

    # -- helpers (tasks) -------------------------------------------------------------------

    async def _listen(self, channel: str) -> None:
        """Control messages from any socket in any process: stop, resync."""
        while True:
            event = await self.layer.receive(channel)
            kind = event.get("type")
            if kind == "gen.stop":
                self.stop()
            elif kind == "gen.resync" and event.get("reply_to"):
                await self.layer.send(
                    event["reply_to"],
                    {
                        "type": "chat.snapshot",
                        "conversation": self.conversation,
                        "message": self._payload(streaming=True),
                        "seq": self.seq,
                    },
                )

    async def _publish_pending(self) -> None:
        fresh_logprobs = len(self.logprobs) > self.logprobs_published
        if not (
            any(stream.fresh for stream in self.streams.values())
            or self.new_citations
            or fresh_logprobs
            or self.changed_calls is not None
        ):
            return
        self.seq += 1
        event = {
            "type": "chat.delta",
            "conversation": self.conversation,
            "message": self.answer_id,
            "seq": self.seq,
            "text": self.streams["text"].take(),
        }
        for field in ("reasoning", "refusal"):
            if more := self.streams[field].take():
                event[field] = more
        if self.changed_calls is not None:
            # The calls of the round that changed (earlier rounds are final): a tab replaces
            # that round's calls with these.
            event["tool_calls"] = self.changed_calls
            self.changed_calls = None
        if self.new_citations:
            event["citations"] = self.new_citations
            self.new_citations = []
        if fresh_logprobs:
            event["logprobs"] = self.logprobs[self.logprobs_published :]
            self.logprobs_published = len(self.logprobs)
        await self.layer.group_send(self.group, event)

    # -- plain helpers ---------------------------------------------------------------------

    def _save_final(self) -> None:
        answer = self.answer
        answer.updated = timezone.now()
        # A prepared UPDATE rather than save(): a burst of answers ends together, too.
        update_rows(Message, FINAL_FIELDS, ["id"], [(*(getattr(answer, name) for name in FINAL_FIELDS), answer.pk)])

    def _payload(self, streaming: bool = False) -> dict:
        payload = message_payload(self.answer, attachments=[])
        if streaming:
            # Exactly the text of deltas 1..seq: what is pending goes out as delta seq+1.
            for field, stream in self.streams.items():
                payload[field] = stream.published()
            payload["citations"] = self.citations[: len(self.citations) - len(self.new_citations)]
            payload["logprobs"] = self.logprobs[: self.logprobs_published]
            payload["status"] = Message.Status.STREAMING
            payload["tool_calls"] = self.calls + self.round.calls
        return payload


class ToolLimit(Exception):
    def __init__(self, rounds: int):
        super().__init__(rounds)
        self.rounds = rounds


def _due_flushes(now: float) -> dict[int, tuple[str, ...]]:
    """The growing answers to write now (their STREAMED fields): those that grew, silent ones now and then."""
    due = {}
    for pk, generation in list(RUNNING.items()):
        size = sum(len(stream.parts) for stream in generation.streams.values())
        if size != generation.saved_parts or now - generation.last_write >= HEARTBEAT_SECONDS:
            generation.saved_parts = size
            generation.last_write = now
            due[pk] = tuple(stream.all() for stream in generation.streams.values())
    return due


@database_sync_to_async
def _write_answers(texts: dict[int, tuple[str, ...]]) -> None:
    now = timezone.now()
    streaming = Message.Status.STREAMING
    rows = [(*fields, now, pk, streaming) for pk, fields in texts.items()]
    with transaction.atomic():
        # A finished answer is saved by its generation; never overwrite it here.
        update_rows(Message, [*STREAMED, "updated"], ["id", "status"], rows)


async def _flush_forever() -> None:
    """Every STREAM_FLUSH_SECONDS, write all growing answers of this process in one transaction:
    one thread hop and one commit per tick, however many answers are streaming."""
    while True:
        await asyncio.sleep(settings.STREAM_FLUSH_SECONDS)
        due = _due_flushes(time.monotonic())
        if not due:
            continue
        try:
            await _write_answers(due)
        except Exception:
            log.warning("could not save %d streaming answers; retrying", len(due), exc_info=True)
            for pk in due:
                if generation := RUNNING.get(pk):
                    generation.saved_parts = -1


@database_sync_to_async
def _remember_token_field(model_id: int | None, field: str) -> None:
    if model_id is not None:
        LanguageModel.objects.filter(pk=model_id).update(token_field=field)


def start_generation(conversation_code, answer: Message, request: UpstreamRequest) -> Generation:
    generation = Generation(conversation_code, answer, request)
    generation.start()
    return generation


def reap_stale(older_than: float = STALE_SECONDS) -> list[Message]:
    """Mark answers left "streaming" by a process that is gone as interrupted, keeping their text."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than)
    stale = list(
        Message.objects.filter(status=Message.Status.STREAMING, updated__lte=cutoff)
        .exclude(pk__in=list(RUNNING))
        .select_related("conversation")
    )
    for message in stale:
        message.status = Message.Status.INTERRUPTED
        message.error = "The server stopped while answering; the text so far is kept."
        message.save(update_fields=["status", "error", "updated"])
    return stale


async def reap_and_announce(older_than: float = STALE_SECONDS) -> int:
    stale = await database_sync_to_async(reap_stale)(older_than)
    layer = get_channel_layer()
    for message in stale:
        code = message.conversation.code
        await layer.group_send(
            group_for(code),
            {"type": "chat.done", "conversation": str(code), "message": message_payload(message, attachments=[])},
        )
    return len(stale)


def _ensure_background(tasks: weakref.WeakKeyDictionary, factory) -> None:
    loop = asyncio.get_running_loop()
    task = tasks.get(loop)
    if task is None or task.done():
        tasks[loop] = loop.create_task(factory())


def ensure_reaper() -> None:
    """Start this process's periodic reaper once (from the first socket that connects)."""
    _ensure_background(_reapers, _reap_forever)


async def _reap_forever() -> None:
    while True:
        await asyncio.sleep(STALE_SECONDS / 2)
        with suppress(Exception):
            await reap_and_announce()
