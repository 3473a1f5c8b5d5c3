"""Telling users what is left of their budgets once their answers end, a batch at a time.

When 200 answers end within a second, one read of their budgets (budgets.remaining_for) tells all
their users, instead of a read each on the one database thread (with budgets on, those reads were
most of what a burst of answers cost more than without). A lone answer's user is told at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chatsite.chat import events
from chatsite.chat.budgets import remaining_for
from chatsite.teams import access

if TYPE_CHECKING:
    from chatsite.chat.runtime import Runtime

log = logging.getLogger(__name__)


class BudgetNews:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.waiting: dict[int, str | None] = {}  # user id -> their answer's language
        self.task = None

    def tell(self, user_id: int, language: str | None) -> None:
        """Send the user's tabs what is left of their budgets (when any applies), soon."""
        self.waiting[user_id] = language
        if self.task is None or self.task.done():
            self.task = self.runtime.spawn(self._drain())

    async def _drain(self) -> None:
        layer = get_channel_layer()
        while self.waiting:
            users, self.waiting = self.waiting, {}
            try:
                left = await database_sync_to_async(_left)(users)
            except Exception:
                log.warning("could not tell %d users what is left of their budgets", len(users), exc_info=True)
                continue
            for user_id, shown in left.items():
                try:
                    await layer.group_send(events.user_group(user_id), {"type": events.BUDGET, "budget": shown})
                except Exception:
                    log.warning("could not tell a user what is left of a budget", exc_info=True)


def _left(users: dict[int, str | None]) -> dict[int, list[dict]]:
    rules = access.rules()
    return remaining_for(rules, users) if rules.any_budget else {}
