"""Each user's fair share of one server: answers at once, messages a minute, sockets.

Past a cap the user is told which limit and when it frees; nothing is written, and nobody
else is slowed. Messages are counted in the cache (Redis when configured, so every process
counts the same minute); answers at once are counted in the database, which all processes share.
"""

import time

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60


class MessageRate:
    """The messages a batch of turns takes from each user's minute (see turns.take_many)."""

    def __init__(self) -> None:
        self.counted: dict[int, int] = {}  # this batch's, not yet in the cache

    def refusal(self, user_id: int) -> str | None:
        """Why this user may not send another message now, or None."""
        limit = settings.CHAT_MESSAGES_PER_MINUTE
        if not limit:
            return None
        window, left = _window()
        sent = (cache.get(_key(user_id, window)) or 0) + self.counted.get(user_id, 0)
        if sent < limit:
            self.counted[user_id] = self.counted.get(user_id, 0) + 1
            return None
        return f"You have sent {limit} messages this minute, the limit; you can send again in {left} s."

    def record(self, user_ids: list[int]) -> None:
        """Count the messages that were taken (a refused or failed one costs nothing)."""
        window, _ = _window()
        for user_id in user_ids:
            key = _key(user_id, window)
            # add() starts the window's counter with its expiry; incr() keeps that expiry.
            if not cache.add(key, 1, WINDOW_SECONDS + 5):
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.add(key, 1, WINDOW_SECONDS + 5)


def answers_refusal(streaming: int) -> str | None:
    """Why a user with this many answers streaming may not start another, or None."""
    limit = settings.CHAT_ANSWERS_PER_USER
    if not limit or streaming < limit:
        return None
    return (
        f"You have {streaming} answers streaming at once, the limit; "
        "you can start another as soon as one of them ends (or stop one)."
    )


def sockets_refusal(open_sockets: int) -> str | None:
    """Why a user with this many sockets open in this process may not open another, or None."""
    limit = settings.CHAT_SOCKETS_PER_USER
    if not limit or open_sockets < limit:
        return None
    return f"You have {open_sockets} chat tabs open, the limit; close one and reload this page."


def _window() -> tuple[int, int]:
    """The current minute's number and the seconds left in it."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    return window, max(1, round((window + 1) * WINDOW_SECONDS - now))


def _key(user_id: int, window: int) -> str:
    return f"chat-rate:{user_id}:{window}"
