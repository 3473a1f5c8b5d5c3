"""The one path every turn takes: queued, written in batches, its answer started in one place.

Every turn needs the one database thread. When many users send at once, each waiting for its
own trip there, the last answer starts only after all the others' queries; taking whatever has
queued up in one trip (turns.take_many) makes a burst cost a few statements, not a few per
message. A lone ask goes at once. Sends, new chats, regenerations, edits and continues all go
this way, for the browser and any later API alike, so every rule about turns is applied here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.utils import translation
from django.utils.translation import gettext_lazy

from chatsite.chat import turns
from chatsite.chat.payloads import turn_frames

if TYPE_CHECKING:
    from chatsite.chat.runtime import Runtime

log = logging.getLogger(__name__)

RESTARTING = gettext_lazy("The server is restarting; send your message again in a moment.")


class TurnRunner:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.waiting: list[tuple[turns.Ask, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    async def take(self, ask: turns.Ask) -> tuple[turns.Turn, list[dict]]:
        """The turn and its frames for the conversation's group, its answer already streaming;
        or ChatError."""
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
        return await future

    async def _drain(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            try:
                results = await _take_all([ask for ask, _ in batch])
            except Exception:
                # take_many answers each ask; this is a bug or a database that is gone.
                log.exception("a batch of %d turns failed", len(batch))
                results = [turns.ChatError(turns.FAILED)] * len(batch)
            for (ask, future), result in zip(batch, results, strict=True):
                if isinstance(result, turns.ChatError):
                    if not future.done():
                        future.set_exception(result)
                    continue
                # Started here, not by the socket: an answer whose tab has gone still streams.
                self.runtime.start_generation(result[0], ask.language)
                if not future.done():
                    future.set_result(result)


@database_sync_to_async
def _take_all(asks: list[turns.Ask]) -> list:
    return [
        result if isinstance(result, turns.ChatError) else (result, turn_frames(result))
        for result in turns.take_many(asks)
    ]
