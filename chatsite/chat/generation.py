"""The generation task: streams one answer from the provider to the conversation's group.

It runs as its own asyncio task, apart from any socket, so closing a tab neither stops nor
loses the answer, and a "stop" frame is handled at once. Per token it only appends to a list;
frames are coalesced and the database is written on a timer by the process's flusher
(saving.py). Every way an answer can end, ends it: its status and reason are saved (or retried)
and a `done` event is always sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy

from chatsite.chat import events, saving
from chatsite.chat.citations import add_citations
from chatsite.chat.models import Message
from chatsite.chat.payloads import message_payload
from chatsite.chat.request import RequestPlan, UpstreamRequest, build_async
from chatsite.chat.search import search_conversations
from chatsite.chat.structured import check_json_answer
from chatsite.chat.titles import name_conversation
from chatsite.chat.turns import title_from
from chatsite.chat.usage import estimate_usage
from chatsite.lib.text import storable
from chatsite.ops import logs, metrics
from chatsite.providers.client import stream_reads
from chatsite.providers.events import (
    Citations,
    Delta,
    Finish,
    Logprobs,
    ProviderError,
    Reasoning,
    Refusal,
    ToolCallDelta,
    Usage,
)
from chatsite.providers.models import LanguageModel
from chatsite.providers.shaping import next_round, token_field_retry
from chatsite.teams.usage import Spent, cost_of
from chatsite.tools import registry
from chatsite.tools.calls import Round, round_messages
from chatsite.tools.http import ToolFailed

if TYPE_CHECKING:
    from chatsite.chat.runtime import Runtime

log = logging.getLogger(__name__)

# Token probabilities kept per answer (about 40 bytes a token, more with alternatives);
# the tokens after these are neither stored nor sent.
LOGPROB_TOKENS = 4000
# The message fields the model's text events go to, in the order of Generation.streams.
STREAM_FIELDS = {Delta: "text", Reasoning: "reasoning", Refusal: "refusal"}
STREAMED = list(STREAM_FIELDS.values())
USAGE_FIELDS = ["prompt_tokens", "completion_tokens", "total_tokens", "reasoning_tokens", "cached_tokens"]
FAILED = gettext_lazy("chatsite failed while streaming this answer; the text so far is kept.")
UNPREPARED = gettext_lazy(
    "chatsite could not prepare the request for this answer (one of its files could not be read)."
)
RESTARTED = gettext_lazy("The server was restarted while answering; the text so far is kept.")
STOPPED_SERVER = gettext_lazy("The server stopped while answering; the text so far is kept.")


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
    def __init__(
        self,
        runtime: Runtime,
        conversation_code,
        answer: Message,
        plan: RequestPlan,
        language: str | None = None,
    ):
        self.runtime = runtime
        self.language = language or settings.LANGUAGE_CODE  # of the asker: the answer's errors are in it
        self.conversation = str(conversation_code)
        self.answer = answer
        self.answer_id = str(answer.code)
        self.plan = plan
        self.request: UpstreamRequest | None = None  # built when the task starts
        self.group = events.conversation_group(conversation_code)
        self.layer = get_channel_layer()
        # What the model writes, by the message field it goes to: the answer, its thinking
        # (shown apart, never sent back upstream) and a refusal.
        self.streams = {field: Growing(getattr(answer, field)) for field in STREAMED}
        # A continued answer adds this generation's usage to what it had.
        self.usage_before = {field: getattr(answer, field) or 0 for field in USAGE_FIELDS}
        self.usage_at_start = dict(self.usage_before)  # what its budgets were already charged
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
        self.error_kind: str | None = None  # a provider's failure, for the metrics and the log
        self.stop_requested = False
        self.task: asyncio.Task | None = None
        # Started as soon as its turn is decided (runner.py), so the request goes out at once;
        # but nothing is published, saved or answered before the turn is written and its
        # frames have reached the tabs (release). A turn that is not written abandons it.
        self.released = asyncio.Event()
        self.abandoned = False
        # What the flusher last wrote (saving.Flusher).
        self.saved_parts = 0
        self.last_write = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> asyncio.Task:
        self.task = asyncio.get_running_loop().create_task(self.run(), name=f"generation-{self.answer.code}")
        return self.task

    def stop(self) -> None:
        """Stop the answer (a user's stop frame): the provider's request is closed, the text kept."""
        if self.task and not self.task.done():
            self.stop_requested = True
            self.task.cancel()

    def committed(self) -> None:
        """Its turn is written: it is one of the process's answers from now on (saved, reaped)."""
        self.runtime.generations[self.answer.pk] = self

    def release(self) -> None:
        """The turn's frames are out (or nobody waits for them): the answer may be shown."""
        self.released.set()

    def abandon(self) -> None:
        """Its turn was not written: close the request; nothing is saved or sent."""
        self.abandoned = True
        if self.task and not self.task.done():
            self.task.cancel()

    def interrupt(self) -> None:
        """End the answer because the server is going away (interrupted, the text kept)."""
        if self.task and not self.task.done():
            self.task.cancel()

    async def run(self) -> None:
        # The task's own context: the language stays this answer's while it streams.
        translation.activate(self.language)
        answer = self.answer
        control = await self.layer.new_channel()
        await self.layer.group_add(events.control_group(self.conversation), control)
        listener = asyncio.create_task(self._listen(control))
        started = time.monotonic()
        try:
            try:
                self.request = await self._build()
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
            finally:
                # Nothing of the answer changes before its turn is written and shown (a
                # failure as fast as the write would otherwise reach the tabs before the turn).
                if not self.abandoned:
                    await self.released.wait()
            answer.status = Message.Status.COMPLETE
        except ProviderError as error:
            answer.status = Message.Status.ERROR
            answer.error = error.message
            self.error_kind = error.code
        except Unprepared as error:
            answer.status = Message.Status.ERROR
            answer.error = str(error)
        except ToolLimit as limit:
            answer.status = Message.Status.ERROR
            answer.error = gettext(
                "Stopped after %(count)s rounds of tool calls (the limit); the model was still calling tools."
            ) % {"count": limit.rounds}
        except asyncio.CancelledError:
            # A stop frame, or the server going away; either way keep what was said.
            asyncio.current_task().uncancel()
            if self.stop_requested:
                answer.status = Message.Status.STOPPED
            else:
                answer.status = Message.Status.INTERRUPTED
                answer.error = str(RESTARTED if self.runtime.closing else STOPPED_SERVER)
        except Exception:
            log.exception("generation %s failed", answer.code)
            answer.status = Message.Status.ERROR
            answer.error = str(FAILED)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            try:
                if not self.abandoned:
                    await self.released.wait()
                    await self._finish(started)
            finally:
                await self.layer.group_discard(events.control_group(self.conversation), control)
                self.runtime.generations.pop(answer.pk, None)

    async def _build(self) -> UpstreamRequest:
        try:
            return await build_async(self.plan)
        except Exception:
            # The turn is saved, so the answer must end: as an error saying why, never streaming.
            log.exception("could not build the request for answer %s", self.answer.code)
            raise Unprepared(str(UNPREPARED)) from None

    async def _finish(self, started: float) -> None:
        """Put the answer's end on the message, save it, and tell every tab: whatever fails here,
        `done` is sent (a tab must never wait on an answer that has ended)."""
        answer = self.answer
        spent = None
        try:
            self._settle(started)
            spent = self._spent()
            if answer.status == Message.Status.COMPLETE and self.request is not None:
                # Off the event loop, in a child with a deadline: a user's schema can be slow.
                answer.json_check = await asyncio.to_thread(check_json_answer, self.request.body or {}, answer.text)
            await self._publish_pending()
        except Exception:
            log.exception("could not finish answer %s", answer.code)
            if answer.status in (Message.Status.COMPLETE, Message.Status.STREAMING):
                answer.status, answer.error = Message.Status.ERROR, str(FAILED)
        try:
            await self.runtime.endings.save(answer, spent)
        finally:
            self._account()  # counted before anyone is told: a scrape after `done` sees it
            await self.layer.group_send(
                self.group, {"type": events.DONE, "conversation": self.conversation, "message": self._payload()}
            )
        if spent is not None and spent.total_tokens:
            self.runtime.budget_news.tell(self.plan.conversation.owner_id, self.language)
        self._name_conversation()

    def _name_conversation(self) -> None:
        """After a new conversation's first answer, a title model may name it (titles.py)."""
        questions = [message for message in self.plan.history if message.role == Message.Role.USER]
        conversation = self.plan.conversation
        if self.answer.status != Message.Status.COMPLETE or len(questions) != 1:
            return
        if conversation.title != title_from(questions[0].text):  # named otherwise (a file's name, the user)
            return
        self.runtime.spawn(
            name_conversation(
                self.runtime,
                self.conversation,
                conversation.owner_id,
                conversation.title,
                questions[0].text,
                self.answer.text,
            )
        )

    def _account(self) -> None:
        """The answer's line in the log and its figures in the metrics (ids and counts only)."""
        answer = self.answer
        metrics.answer_ended(answer.status, answer.first_token_ms, answer.duration_ms, answer.completion_tokens or 0)
        if self.error_kind:
            metrics.provider_errors.labels(self.error_kind).inc()
        logs.answers.info(
            "answer %s",
            answer.status,
            extra={
                "status": answer.status,
                "user_id": self.plan.conversation.owner_id,
                "conversation_id": self.conversation,
                "message_id": self.answer_id,
                "model": answer.model_name,
                "provider": answer.provider_name,
                "prompt_tokens": answer.prompt_tokens,
                "completion_tokens": answer.completion_tokens,
                "total_tokens": answer.total_tokens,
                "first_token_ms": answer.first_token_ms,
                "duration_ms": answer.duration_ms,
                "error_kind": self.error_kind,
            },
        )

    def _spent(self) -> Spent | None:
        """What this generation used, for its day's usage and its budgets (None when the provider
        was never asked); puts the answer's cost on it."""
        if self.request is None:
            return None
        answer, start = self.answer, self.usage_at_start
        used = {field: max(0, (getattr(answer, field) or 0) - start[field]) for field in USAGE_FIELDS}
        cost = cost_of(self.plan.model, used["prompt_tokens"], used["cached_tokens"], used["completion_tokens"])
        if cost is not None:
            answer.cost = (answer.cost or 0) + cost
        return Spent(
            user_id=self.plan.conversation.owner_id,
            team_id=answer.billed_team_id,
            team_name="",  # filled in where it is saved (saving.py)
            provider_name=answer.provider_name,
            model_name=answer.model_name,
            prompt_tokens=used["prompt_tokens"],
            cached_tokens=used["cached_tokens"],
            completion_tokens=used["completion_tokens"],
            total_tokens=used["total_tokens"],
            cost=cost,
            estimated=answer.usage_estimated,
        )

    def _settle(self, started: float) -> None:
        """The answer's final fields from what streamed."""
        answer = self.answer
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
        body = self.request.body if self.request is not None else {}
        if not self.usage_seen and self.wrote:
            # No usage from the provider (some gateways send none, a stopped stream never
            # gets it): estimate it, and say so.
            written = "".join(stream.new() for stream in self.streams.values())
            prompt, completion = estimate_usage(body or {}, written)
            answer.prompt_tokens = self.usage_before["prompt_tokens"] + prompt
            answer.completion_tokens = self.usage_before["completion_tokens"] + completion
            answer.total_tokens = answer.prompt_tokens + answer.completion_tokens
            answer.usage_estimated = True
            answer.context_tokens = prompt + completion
        elif self.last_usage is not None:
            last = self.last_usage
            # Reasoning is not sent back upstream, so it takes no room in the next request.
            answer.context_tokens = max(0, last.prompt_tokens + last.completion_tokens - last.reasoning_tokens)

    async def _stream(self, body: dict, started: float) -> None:
        """Read the answer to body into the streams, publishing after each network read."""
        answer = self.answer
        request = self.request
        # Reading is held for the coalescing window after each read with text, so the
        # tokens of a window arrive in one read and go out in one frame.
        reads = stream_reads(
            request.base_url,
            request.api_key,
            body,
            client=self.runtime.http(),
            connect_timeout=settings.PROVIDER_CONNECT_TIMEOUT,
            idle_timeout=settings.PROVIDER_IDLE_TIMEOUT,
            hold=self.runtime.coalesce_window,
        )
        try:
            async for batch in reads:
                if not self.released.is_set():
                    await self.released.wait()
                for event in batch:
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
                        answer.finish_reason = event.reason
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
        await database_sync_to_async(saving.save_calls)(self.answer.pk, self.calls)
        said = written[self.text_sent :]
        self.text_sent = len(text.all())
        return next_round(body, round_messages(said, calls))

    async def _run_call(self, spec: registry.ToolSpec | None, call: dict) -> None:
        began = time.monotonic()
        try:
            if spec is None:
                raise ToolFailed(f"There is no tool named {call['name'][:64]!r} here.")
            # Bounded per process: a model calling many slow tools must not take every socket.
            async with self.runtime.tool_slots:
                result = await registry.run(
                    spec,
                    call["arguments"],
                    user_id=self.request.user_id,
                    conversation=self.conversation,
                    session=self.runtime.http(),
                    search=search_conversations,
                )
            call["result"], call["status"] = storable(result), "done"
        except ToolFailed as error:
            # The model gets the failure as the result and can say so or try otherwise.
            call["result"], call["status"] = storable(f"Error: {error}"), "error"
        except Exception:
            log.exception("tool %s failed", call["name"])
            call["result"], call["status"] = "Error: the tool failed unexpectedly.", "error"
        call["ms"] = round((time.monotonic() - began) * 1000)

    # -- helpers (tasks) -------------------------------------------------------------------

    async def _listen(self, channel: str) -> None:
        """Control messages from any socket in any process: stop, resync."""
        while True:
            event = await self.layer.receive(channel)
            await self.released.wait()
            kind = event.get("type")
            if kind == events.STOP:
                self.stop()
            elif kind == events.RESYNC and event.get("reply_to"):
                await self.layer.send(
                    event["reply_to"],
                    {
                        "type": events.SNAPSHOT,
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
            "type": events.DELTA,
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


class Unprepared(Exception):
    """The request could not be built (a file the history needs could not be read, ...)."""


class ToolLimit(Exception):
    def __init__(self, rounds: int):
        super().__init__(rounds)
        self.rounds = rounds


@database_sync_to_async
def _remember_token_field(model_id: int | None, field: str) -> None:
    if model_id is not None:
        LanguageModel.objects.filter(pk=model_id).update(token_field=field)
