"""Writing answers as they stream and when they end, and marking orphaned ones interrupted.

One flusher per process writes every growing answer on a timer, all in one statement; a row
the database refuses is written alone, so one bad answer never stops the others' saving. An
answer's final save is retried (and, last, made storable) so that its end is never lost. The
reaper marks answers left "streaming" by a process that is gone as interrupted, keeping their
text. This is the only module that writes rows with update_rows, a prepared UPDATE: on these
paths (every growing answer twice a second, a burst of endings) compiling a statement per row
costs more than the writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from chatsite.chat import events
from chatsite.chat.models import Message
from chatsite.chat.payloads import message_payload
from chatsite.lib.text import storable, storable_value
from chatsite.ops import metrics
from chatsite.teams import access, usage
from chatsite.teams.usage import Spent

if TYPE_CHECKING:
    from chatsite.chat.generation import Generation
    from chatsite.chat.runtime import Runtime

log = logging.getLogger(__name__)

STREAMED = ["text", "reasoning", "refusal"]  # the Generation.streams fields, in order
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
    "cost",
    "updated",
]
TEXT_FIELDS = [*STREAMED, "finish_reason", "error", "json_check"]
JSON_FIELDS = ["citations", "logprobs", "tool_calls"]
# A silent answer is still touched this often, well within what the reaper calls stale.
HEARTBEAT_SECONDS = min(10.0, settings.STREAM_STALE_SECONDS / 3)
# A streaming row not touched for this long belongs to a process that is gone (STREAM_STALE_SECONDS).
STALE_SECONDS = settings.STREAM_STALE_SECONDS
FINAL_TRIES = 4
REAPED = gettext_lazy("The server stopped while answering; the text so far is kept.")
# What a refused write raises: the database's errors, or the driver's when it cannot encode a
# text (a lone surrogate is a UnicodeEncodeError, a ValueError).
STORE_ERRORS = (DatabaseError, ValueError)


# -- while an answer streams ---------------------------------------------------------------


class Flusher:
    """Every STREAM_FLUSH_SECONDS, writes the process's growing answers: one thread hop and one
    commit per tick however many stream, row by row only when that fails."""

    def __init__(self, generations: dict[int, Generation]) -> None:
        self.generations = generations
        self.last_written = 0.0  # time.monotonic() of the last write that went through (the metrics' lag)

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(settings.STREAM_FLUSH_SECONDS)
            due = self.due(time.monotonic())
            if not due:
                self.last_written = time.monotonic()
                continue
            began = time.monotonic()
            try:
                failed = await _write_growing(due)
                self.last_written = time.monotonic()
                metrics.flushes.observe(self.last_written - began)
            except Exception:
                log.warning("could not save %d streaming answers; retrying", len(due), exc_info=True)
                failed = list(due)
            for pk in failed:
                if generation := self.generations.get(pk):
                    generation.saved_parts = -1  # due again next tick

    def due(self, now: float) -> dict[int, tuple[str, ...]]:
        """The growing answers to write now (their streamed fields): those that grew, silent ones
        now and then."""
        due = {}
        for pk, generation in list(self.generations.items()):
            size = sum(len(stream.parts) for stream in generation.streams.values())
            if size != generation.saved_parts or now - generation.last_write >= HEARTBEAT_SECONDS:
                generation.saved_parts = size
                generation.last_write = now
                due[pk] = tuple(stream.all() for stream in generation.streams.values())
        return due


@database_sync_to_async
def _write_growing(texts: dict[int, tuple[str, ...]]) -> list[int]:
    """Write the answers' texts; return the ids that could not be written."""
    now = timezone.now()
    streaming = Message.Status.STREAMING
    rows = {pk: (*fields, now, pk, streaming) for pk, fields in texts.items()}
    columns = [*STREAMED, "updated"]
    try:
        with transaction.atomic():
            # A finished answer is saved by its generation; never overwrite it here.
            update_rows(Message, columns, ["id", "status"], list(rows.values()))
        return []
    except STORE_ERRORS:
        log.warning("could not save %d streaming answers together; saving each alone", len(rows), exc_info=True)
    failed = []
    for pk, row in rows.items():
        try:
            with transaction.atomic():
                update_rows(Message, columns, ["id", "status"], [row])
        except STORE_ERRORS:
            log.warning("could not save streaming answer %s", pk, exc_info=True)
            failed.append(pk)
    return failed


def save_calls(answer_id: int, calls: list[dict]) -> None:
    """A round's calls and results, written when they are in: a server stopping later does not lose them."""
    Message.objects.filter(pk=answer_id).update(tool_calls=storable_value(calls), updated=timezone.now())


# -- when it ends --------------------------------------------------------------------------


class Endings:
    """Answers' final saves, a batch at a time: when 200 answers end within a second, one thread
    hop and one transaction save them all and add what they used to their days, rather than a
    hop, a transaction and an ORM update each on the one database thread (a sixth of what a
    burst of answers cost the server). A lone answer is saved at once; a batch the database
    refuses is saved again an answer at a time, each with save_final's retries."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.waiting: list[tuple[Message, Spent | None, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    async def save(self, answer: Message, spent: Spent | None = None) -> None:
        """save_final, with the answers that end meanwhile; returns once this one is saved."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((answer, spent, future))
        if self.task is None or self.task.done():
            self.task = self.runtime.spawn(self._drain())
        # A generation cancelled meanwhile (a second stop, the server going) still has its answer saved.
        await asyncio.shield(future)

    async def _drain(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            futures = [future for *_, future in batch]
            try:
                await _save_ended([(answer, spent) for answer, spent, _ in batch])
            except Exception as error:
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
            else:
                for future in futures:
                    if not future.done():
                        future.set_result(None)
            finally:
                for future in futures:  # the runtime closed meanwhile
                    future.cancel()


async def _save_ended(ended: list[tuple[Message, Spent | None]]) -> None:
    if len(ended) > 1:
        try:
            await database_sync_to_async(_save_finals)(ended)
            return
        except STORE_ERRORS:
            log.warning("could not save %d answers together; saving each alone", len(ended), exc_info=True)
    for answer, spent in ended:
        await save_final(answer, spent)


async def save_final(answer: Message, spent: Spent | None = None) -> None:
    """Save the answer's end, and add what it used to its day (teams/usage.py), in one
    transaction. A database that refuses is asked again (SQLite busy, a dropped PostgreSQL
    connection), with every text made storable; what still fails is logged, and the caller
    sends `done` anyway."""
    for attempt in range(FINAL_TRIES):
        try:
            await database_sync_to_async(_save_final)(answer, attempt > 0, spent)
            return
        except STORE_ERRORS:
            log.warning("could not save answer %s (try %d)", answer.code, attempt + 1, exc_info=True)
            if attempt < FINAL_TRIES - 1:
                await asyncio.sleep(0.2 * 2**attempt)


def _save_finals(ended: list[tuple[Message, Spent | None]]) -> None:
    """Save the answers' ends and add what they used to their days, in one transaction and a few
    statements (a prepared UPDATE rather than save(): a burst of answers ends together)."""
    now = timezone.now()
    for answer, _ in ended:
        answer.updated = now
    names = access.rules().names
    with transaction.atomic():
        update_rows(
            Message, FINAL_FIELDS, ["id"], [(*(getattr(a, name) for name in FINAL_FIELDS), a.pk) for a, _ in ended]
        )
        usage.record_many(
            [replace(spent, team_name=names.get(spent.team_id, "") if spent.team_id else "")
             for _, spent in ended if spent is not None]
        )  # fmt: skip


def _save_final(answer: Message, scrub: bool, spent: Spent | None) -> None:
    if scrub:
        for name in TEXT_FIELDS:
            setattr(answer, name, storable(getattr(answer, name) or ""))
        for name in JSON_FIELDS:
            setattr(answer, name, storable_value(getattr(answer, name)))
    _save_finals([(answer, spent)])


# -- answers of a process that is gone -----------------------------------------------------


def reap_stale(older_than: float = STALE_SECONDS, alive: set[int] | frozenset = frozenset()) -> list[Message]:
    """Mark answers left "streaming" by a process that is gone as interrupted, keeping their
    text: those not touched for older_than seconds and not alive in this process."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than)
    stale = list(
        Message.objects.filter(status=Message.Status.STREAMING, updated__lte=cutoff)
        .exclude(pk__in=list(alive))
        .select_related("conversation")
    )
    now = timezone.now()
    for message in stale:
        message.status, message.error, message.updated = Message.Status.INTERRUPTED, str(REAPED), now
    Message.objects.bulk_update(stale, ["status", "error", "updated"])
    return stale


async def reap_and_announce(older_than: float = STALE_SECONDS, alive: set[int] | frozenset = frozenset()) -> int:
    """reap_stale, and tell every tab showing those conversations."""
    stale = await database_sync_to_async(reap_stale)(older_than, alive)
    layer = get_channel_layer()
    for message in stale:
        code = message.conversation.code
        await layer.group_send(
            events.conversation_group(code),
            {"type": events.DONE, "conversation": str(code), "message": message_payload(message, attachments=[])},
        )
    return len(stale)


# -- the prepared UPDATE -------------------------------------------------------------------


def update_rows(
    model: type[models.Model], fields: list[str], keys: list[str], rows: list[tuple], *, using: str | None = None
) -> None:
    """UPDATE model SET fields... WHERE keys... for each row (the fields' values, then the keys')."""
    if not rows:
        return
    connection = connections[using or model.objects.db]
    meta = model._meta
    columns = [meta.get_field(name) for name in [*fields, *keys]]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns[: len(fields)])
    conditions = " AND ".join(f"{quote(field.column)} = %s" for field in columns[len(fields) :])
    # Only quoted identifiers go into the text; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608
    params = [
        [field.get_db_prep_save(value, connection) for field, value in zip(columns, row, strict=True)] for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
