"""The in-memory channel layer for one process, without Channels' per-message scans.

Channels' InMemoryChannelLayer walks every channel and every group membership on each
receive and group_send (expiry clean-up), deep-copies each message and starts a task per
group member: with a few hundred sockets that is most of the server's CPU per token.
"""

import asyncio
import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

CLEAN_EVERY_SECONDS = 1.0


class LocalChannelLayer(InMemoryChannelLayer):
    _next_clean = 0.0

    def _clean_expired(self) -> None:
        # Expiry is measured in tens of seconds: checking once a second is plenty.
        now = time.monotonic()
        if now >= self._next_clean:
            self._next_clean = now + CLEAN_EVERY_SECONDS
            super()._clean_expired()

    async def send(self, channel: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        queue = self.channels.get(channel)
        if queue is None:
            self.require_valid_channel_name(channel)
            queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            # A shallow copy: receivers never mutate events (consumers build new frames).
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
