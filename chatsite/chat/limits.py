"""Each user's fair share of one server: answers at once, messages a minute, sockets.

Past a cap the user is told which limit and when it frees; nothing is written, and nobody
else is slowed. Messages are counted in the cache (Redis when configured, so every process
counts the same minute); answers at once are counted in the database, which all processes share.
"""

import time
from collections import Counter
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import ngettext

WINDOW_SECONDS = 60


class MessageRate:
    """The messages a batch of turns takes from each minute of its users (CHAT_MESSAGES_PER_MINUTE,
    or their budget's if lower) and of their teams (a team budget's), see turns.take_many."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        """keys: whose minutes the batch may count against, read together (with Redis, one round
        trip for the batch rather than one per ask and key)."""
        self.counted: dict[str, int] = {}  # this batch's, not yet in the cache
        self.window, _ = _window()
        keys = list(keys)
        found = cache.get_many([_key(name, self.window) for name in keys]) if keys else {}
        self.sent = {name: found.get(_key(name, self.window), 0) for name in keys}

    def refusal(self, key: str, limit: int | None, team: str | None = None) -> str | None:
        """Why the user (or their team, by its name) may not send another message now, or None;
        key names whose minute it is ("user:1", "team:2")."""
        if not limit:
            return None
        window, left = _window()
        before = self.sent.get(key) if window == self.window else None
        if before is None:  # not read with the batch, or a new minute began since
            before = cache.get(_key(key, window)) or 0
        sent = before + self.counted.get(key, 0)
        if sent < limit:
            self.counted[key] = self.counted.get(key, 0) + 1
            return None
        values = {"count": limit, "seconds": left, "team": team}
        if team is None:
            text = ngettext(
                "You have sent %(count)s message this minute, the limit; you can send again in %(seconds)s s.",
                "You have sent %(count)s messages this minute, the limit; you can send again in %(seconds)s s.",
                limit,
            )
        else:
            text = ngettext(
                "Team %(team)s has sent %(count)s message this minute, the limit; you can send again in %(seconds)s s.",
                "Team %(team)s has sent %(count)s messages this minute, the limit; "
                "you can send again in %(seconds)s s.",
                limit,
            )
        return text % values

    def record(self, keys: list[str]) -> None:
        """Count the messages that were taken (a refused or failed one costs nothing)."""
        window, _ = _window()
        for name, count in Counter(keys).items():  # a user's asks of one batch: one count
            key = _key(name, window)
            # add() starts the window's counter with its expiry; incr() keeps that expiry.
            if not cache.add(key, count, WINDOW_SECONDS + 5):
                try:
                    cache.incr(key, count)
                except ValueError:  # expired between add and incr
                    cache.add(key, count, WINDOW_SECONDS + 5)


def answers_refusal(streaming: int) -> str | None:
    """Why a user with this many answers streaming may not start another, or None."""
    limit = settings.CHAT_ANSWERS_PER_USER
    if not limit or streaming < limit:
        return None
    return ngettext(
        "You have %(count)s answer streaming, the limit; you can start another as soon as it ends (or stop it).",
        "You have %(count)s answers streaming at once, the limit; "
        "you can start another as soon as one of them ends (or stop one).",
        streaming,
    ) % {"count": streaming}


def sockets_refusal(open_sockets: int) -> str | None:
    """Why a user with this many sockets open in this process may not open another, or None."""
    limit = settings.CHAT_SOCKETS_PER_USER
    if not limit or open_sockets < limit:
        return None
    return ngettext(
        "You have %(count)s chat tab open, the limit; close one and reload this page.",
        "You have %(count)s chat tabs open, the limit; close one and reload this page.",
        open_sockets,
    ) % {"count": open_sockets}


def _window() -> tuple[int, int]:
    """The current minute's number and the seconds left in it."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    return window, max(1, round((window + 1) * WINDOW_SECONDS - now))


def user_rate_limit(budget_limit: int | None) -> int | None:
    """A user's messages a minute: the site's cap, or their budget's when that is lower."""
    limits = [limit for limit in (settings.CHAT_MESSAGES_PER_MINUTE, budget_limit) if limit]
    return min(limits) if limits else None


def _key(name: str, window: int) -> str:
    return f"chat-rate:{name}:{window}"
