"""The in-memory channel layer for one process, without Channels' per-message scans.

Channels' InMemoryChannelLayer walks every channel and every group membership on each
receive and group_send (expiry clean-up), deep-copies each message and starts a task per
group member: with a few hundred sockets that is most of the server's CPU per token.

A consumer in this process can also attach a handler to its channel (DirectDelivery): its
messages are then handed to the handler at once instead of going through a queue that its
receive loop polls (Channels' receive loop costs a new task and an asyncio.wait per message).
"""

import abc
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

log = logging.getLogger(__name__)

CLEAN_EVERY_SECONDS = 1.0

Handler = Callable[[dict], Awaitable[None]]


class DirectDelivery(abc.ABC):
    """A channel layer that can hand a channel's messages straight to its consumer."""

    @abc.abstractmethod
    def attach(self, channel: str, handler: Handler) -> None:
        """Deliver this channel's messages by awaiting handler(message), in the order sent."""

    @abc.abstractmethod
    def detach(self, channel: str) -> None:
        """Deliver this channel's messages through its queue again (the consumer is leaving)."""


class LocalChannelLayer(DirectDelivery, InMemoryChannelLayer):
    _next_clean = 0.0

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.handlers: dict[str, Handler] = {}

    def attach(self, channel: str, handler: Handler) -> None:
        self.handlers[channel] = handler

    def detach(self, channel: str) -> None:
        self.handlers.pop(channel, None)

    def _clean_expired(self) -> None:
        # Expiry is measured in tens of seconds: checking once a second is plenty.
        now = time.monotonic()
        if now >= self._next_clean:
            self._next_clean = now + CLEAN_EVERY_SECONDS
            super()._clean_expired()

    async def send(self, channel: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        handler = self.handlers.get(channel)
        if handler is not None:
            try:
                # A shallow copy: receivers never mutate events (consumers build new frames).
                await handler(dict(message))
            except Exception:
                # One broken receiver must not break the sender (a generation, a group send).
                log.exception("delivering %r to %s failed", message.get("type"), channel)
            return
        queue = self.channels.get(channel)
        if queue is None:
            self.require_valid_channel_name(channel)
            queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            queue.put_nowait((time.time() + self.expiry, dict(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def group_send(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            try:
                await self.send(channel, message)
            except ChannelFull:
                pass  # as Channels does: a full channel (a stuck socket) misses the event

    async def flush(self) -> None:
        await super().flush()
        self.handlers = {}
