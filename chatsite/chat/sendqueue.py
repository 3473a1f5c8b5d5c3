"""Sends that arrive together go to the database thread together.

Every turn needs the one database thread. When many users send at once, each waiting for its
own trip there, the last answer starts only after all the others' queries; taking whatever has
queued up in one trip (turns.send_many) makes a burst cost a few statements, not a few per
message. A lone send goes at once, as before.
"""

import asyncio
import weakref

from channels.db import database_sync_to_async

from chatsite.chat import turns
from chatsite.chat.generation import start_generation
from chatsite.chat.payloads import turn_frames

_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SendQueue]" = weakref.WeakKeyDictionary()


class SendQueue:
    def __init__(self) -> None:
        self.waiting: list[tuple[turns.Ask, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    async def send(self, ask: turns.Ask) -> tuple[turns.Turn, list[dict]]:
        """The turn, its frames for the conversation's group, its answer already streaming."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((ask, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            try:
                results = await _send_all([ask for ask, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, turns.ChatError):
                    if not future.done():
                        future.set_exception(result)
                    continue
                turn = result[0]
                # Started here, not by the socket: an answer whose tab has gone still streams.
                start_generation(turn.conversation.code, turn.answer, turn.request)
                if not future.done():
                    future.set_result(result)


@database_sync_to_async
def _send_all(asks: list[turns.Ask]) -> list:
    return [
        result if isinstance(result, turns.ChatError) else (result, turn_frames(result))
        for result in turns.send_many(asks)
    ]


def send_queue() -> SendQueue:
    """This event loop's queue (a server has one loop; tests make one per test)."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = SendQueue()
    return queue
