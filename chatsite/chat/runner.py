"""The one path every turn takes: queued, written in batches, its answer started in one place.

Every turn needs the one database thread. When many users send at once, each waiting for its
own trip there, the last answer starts only after all the others' queries; taking whatever has
queued up in one trip (turns.take_many) makes a burst cost a few statements, not a few per
message. A lone ask goes at once. Sends, new chats, regenerations, edits and continues all go
this way, for the browser and any later API alike, so every rule about turns is applied here.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.utils import translation
from django.utils.translation import gettext_lazy

from chatsite.chat import turns
from chatsite.chat.payloads import turn_event

if TYPE_CHECKING:
    from chatsite.chat.generation import Generation
    from chatsite.chat.runtime import Runtime

log = logging.getLogger(__name__)

RESTARTING = gettext_lazy("The server is restarting; send your message again in a moment.")


class TurnRunner:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.waiting: list[tuple[turns.Ask, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    async def take(self, ask: turns.Ask) -> tuple[turns.Turn, dict, Callable[[], None]]:
        """The turn, its event for the conversation's group, and what to call once they are sent
        (its answer streams already, and is shown from then on); or ChatError."""
        if self.runtime.closing:
            raise turns.ChatError(RESTARTING)
        future = asyncio.get_running_loop().create_future()
        # The asker's language goes with the ask: a batch holds several users' asks, and
        # their refusals and answers' errors are each in its own user's language.
        if ask.language is None:
            ask = dataclasses.replace(ask, language=translation.get_language())
        self.waiting.append((ask, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain())
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result()[2]()  # the asker went before showing its turn: show the answer anyway
            raise

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.waiting:
            batch, self.waiting = self.waiting, []
            # The requests start as soon as their turns are decided, while the database thread
            # writes them: the provider need not wait for the write (about a millisecond).
            early: dict[int, Generation] = {}

            def start_early(decided: dict[int, turns.Turn], batch=batch, early=early) -> None:
                for i, turn in decided.items():
                    early[i] = self.runtime.start_generation(turn, batch[i][0].language, written=False)

            # Run in this task's context, not the database thread's (asgiref marks that one as
            # inside its thread: a generation started there could never reach the database).
            context = contextvars.copy_context()

            def planned(decided: dict[int, turns.Turn], context=context) -> None:  # in the database thread
                loop.call_soon_threadsafe(start_early, decided, context=context)

            try:
                results = await _take_all([ask for ask, _ in batch], planned)
            except Exception:
                # take_many answers each ask; this is a bug or a database that is gone.
                log.exception("a batch of %d turns failed", len(batch))
                results = [turns.ChatError(turns.FAILED)] * len(batch)
            # start_early has run: the loop runs callbacks in the order they came, and the thread
            # asked for it before it returned.
            for i, ((ask, future), result) in enumerate(zip(batch, results, strict=True)):
                generation = early.pop(i, None)
                if isinstance(result, turns.ChatError):
                    if generation is not None:
                        generation.abandon()
                    if not future.done():
                        future.set_exception(result)
                    continue
                # Started here, not by the socket: an answer whose tab has gone still streams.
                if generation is not None and generation.answer is result[0].answer:
                    generation.committed()
                else:  # written by a later try than the one started early
                    if generation is not None:
                        generation.abandon()
                    generation = self.runtime.start_generation(result[0], ask.language)
                if future.done():  # the asker has gone: nobody shows the turn
                    generation.release()
                else:
                    future.set_result((*result, generation.release))


@database_sync_to_async
def _take_all(asks: list[turns.Ask], planned: turns.Planned) -> list:
    return [
        result if isinstance(result, turns.ChatError) else (result, turn_event(result))
        for result in turns.take_many(asks, planned)
    ]
