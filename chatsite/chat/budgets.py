"""Budgets, checked as turns are taken: in the batch's transaction, before any provider is called.

A budget caps a user, or a team's members together (teams/models.py Budget): messages a minute,
tokens a day and a month, cost a month. A turn is refused, saying which limit, how much is
left and when it resets, when nothing is left; a running answer is never cut. While it streams
an answer holds back an estimate of its tokens (Message.reserved_tokens), and the batch locks
the budget rows it checks, so two tabs (or two processes) cannot both spend the last tokens.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connections
from django.utils import formats, timezone, translation
from django.utils.translation import gettext, gettext_lazy

from chatsite.chat.models import Message
from chatsite.chat.usage import CHARS_PER_TOKEN
from chatsite.lib.sqlrows import Table, fetch, placeholders
from chatsite.providers.models import LanguageModel
from chatsite.teams.access import Rules
from chatsite.teams.models import Budget, DailyUsage, TeamSettings
from chatsite.teams.usage import periods

ANSWER_ESTIMATE = 1000  # tokens an answer is assumed to take when no length limit is set


class OverBudget(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class _Tally:
    """What one user or team spent and holds back, today and this month."""

    day_tokens: int = 0
    month_tokens: int = 0
    month_cost: Decimal = Decimal(0)
    held_tokens: int = 0  # by answers streaming now


_BUDGETS = Table(Budget, "b")
_USAGE = Table(DailyUsage, "u")


def _any_in(*columns: tuple[str, list[int]]) -> tuple[str, list[int]]:
    """`column IN (…) OR column IN (…)` for the (column, ids) whose ids are not empty (never
    true when all are), and its parameters."""
    either = [f"{column} IN ({placeholders(ids)})" for column, ids in columns if ids]
    return " OR ".join(either) or "0 = 1", [i for _, ids in columns for i in ids]


def estimate(texts: list[str], parameters: dict) -> int:
    """The tokens a turn holds back while it streams: its prompt, and its length limit or a guess."""
    prompt = sum(len(text) for text in texts) // CHARS_PER_TOKEN
    return prompt + int(parameters.get("max_tokens") or ANSWER_ESTIMATE)


class Budgets:
    """The budgets of one batch's users and teams (read and locked once), and the turns it admits."""

    def __init__(self, rules: Rules, user_ids: set[int], *, lock: bool = True, count_answers: bool = False) -> None:
        """count_answers: also count each user's streaming answers (self.answers), for their cap."""
        self.rules = rules
        self.by_user: dict[int, Budget] = {}
        self.by_team: dict[int, Budget] = {}
        self.answers: Counter[int] = Counter()
        self.users: defaultdict[int, _Tally] = defaultdict(_Tally)
        self.teams: defaultdict[int, _Tally] = defaultdict(_Tally)
        if rules.any_budget:
            self._read(user_ids, lock)
        if count_answers or self.by_user or self.by_team:
            self._read_streaming(user_ids)

    def _read(self, user_ids: set[int], lock: bool) -> None:
        # In SQL by hand, like the turn's other reads (lib/sqlrows.py): the ORM built these two
        # queries for every batch of turns with budgets on, a millisecond before any request.
        connection = connections[Budget.objects.db]
        users = sorted(user_ids)
        teams = sorted({team for user in user_ids for team in self.rules.teams_of.get(user, ())})
        where, params = _any_in(("b.user_id", users), ("b.team_id", teams))
        sql = f"SELECT {_BUDGETS.columns} FROM {_BUDGETS.source} WHERE {where}"  # noqa: S608 - only columns and placeholders go in
        if lock and connection.features.has_select_for_update:
            # Locked until the batch commits: another process checking them waits for this one's
            # reservations (on SQLite the one writer already orders batches).
            sql += " FOR UPDATE"
        for row in fetch(connection, sql, params):
            budget = _BUDGETS.make(connection, row)
            if budget.user_id:
                self.by_user[budget.user_id] = budget
            else:
                self.by_team[budget.team_id] = budget
        if not (self.by_user or self.by_team):
            return
        self.today, month_start, self.day_end, self.month_end = periods()
        since = DailyUsage._meta.get_field("day").get_db_prep_value(month_start, connection)
        where, params = _any_in(("u.user_id", sorted(self.by_user)), ("u.team_id", sorted(self.by_team)))
        sql = f"SELECT {_USAGE.columns} FROM {_USAGE.source} WHERE u.day >= %s AND ({where})"  # noqa: S608 - only columns and placeholders go in
        for row in fetch(connection, sql, [since, *params]):
            spent = _USAGE.make(connection, row)
            for tally in ([self.users[spent.user_id]] if spent.user_id in self.by_user else []) + (
                [self.teams[spent.team_id]] if spent.team_id in self.by_team else []
            ):
                tally.month_tokens += spent.total_tokens
                tally.month_cost += spent.cost
                if spent.day == self.today:
                    tally.day_tokens += spent.total_tokens

    def _read_streaming(self, user_ids: set[int]) -> None:
        """The answers streaming now, in one query for the cap and the budgets: how many each user
        has, and what they hold back of their own and their teams' budgets. Counted in the
        database, which every process shares."""
        # In SQL by hand, like the turn's other reads (lib/sqlrows.py): the ORM's aggregate took
        # most of a millisecond to build, for a query the database runs in tens of microseconds.
        where, params = _any_in(("c.owner_id", sorted(user_ids)), ("m.billed_team_id", sorted(self.by_team)))
        streaming = fetch(
            connections[Message.objects.db],
            "SELECT c.owner_id, m.billed_team_id, COUNT(m.id), SUM(m.reserved_tokens)"  # noqa: S608 - only columns and placeholders go in
            " FROM chat_message m JOIN chat_conversation c ON c.id = m.conversation_id"
            f" WHERE m.status = %s AND ({where}) GROUP BY c.owner_id, m.billed_team_id",
            [Message.Status.STREAMING.value, *params],
        )
        for owner, team, count, held in streaming:
            if owner in user_ids:
                self.answers[owner] += count
            if owner in self.by_user:
                self.users[owner].held_tokens += held or 0
            if team in self.by_team:
                self.teams[team].held_tokens += held or 0

    def admit(self, user, team_id: int | None, tokens: int, model: LanguageModel) -> None:
        """Hold `tokens` back for a new answer of this user's, billed to this team, or OverBudget."""
        checks = []
        if budget := self.by_user.get(user.pk):
            checks.append((None, budget, self.users[user.pk]))
        if team_id is not None and (budget := self.by_team.get(team_id)):
            checks.append((self.rules.names.get(team_id, ""), budget, self.teams[team_id]))
        price = model.price_output or model.price_input or Decimal(0)
        for whose, budget, tally in checks:
            self._check(whose, budget, tally, price)
        for _, _, tally in checks:
            tally.held_tokens += tokens

    def _check(self, team: str | None, budget: Budget, tally: _Tally, price: Decimal) -> None:
        """team: the team's name, or None for the user's own budget."""
        limits = [
            (DAY, budget.tokens_per_day, tally.day_tokens, self.day_end),
            (MONTH, budget.tokens_per_month, tally.month_tokens, self.month_end),
        ]
        for what, limit, used, resets in limits:
            if limit is not None and used + tally.held_tokens >= limit:
                raise OverBudget(_message(team, what, limit, used, tally.held_tokens, resets))
        if budget.cost_per_month is not None:
            held_cost = tally.held_tokens * price / Decimal(1_000_000)
            if tally.month_cost + held_cost >= budget.cost_per_month:
                currency = TeamSettings.current().currency
                amount = {"limit": formats.number_format(budget.cost_per_month), "currency": currency}
                if team is None:
                    name = gettext("Your budget of %(limit)s %(currency)s for this month") % amount
                else:
                    name = gettext("Team %(team)s’s budget of %(limit)s %(currency)s for this month") % {
                        **amount,
                        "team": team,
                    }
                values = {
                    "budget": name,
                    "used": formats.number_format(tally.month_cost, 2),
                    "held": formats.number_format(held_cost, 2),
                    "currency": currency,
                    **_when(self.month_end),
                }
                if held_cost:
                    text = gettext(
                        "%(budget)s is spent (%(used)s %(currency)s used, %(held)s held by answers still "
                        "streaming); it resets on %(date)s at %(time)s."
                    )
                else:
                    text = gettext(
                        "%(budget)s is spent (%(used)s %(currency)s used); it resets on %(date)s at %(time)s."
                    )
                raise OverBudget(text % values)


DAY, MONTH = "day", "month"
BUDGET_NAMES = {
    (False, DAY): gettext_lazy("Your budget of %(limit)s tokens for today"),
    (False, MONTH): gettext_lazy("Your budget of %(limit)s tokens for this month"),
    (True, DAY): gettext_lazy("Team %(team)s’s budget of %(limit)s tokens for today"),
    (True, MONTH): gettext_lazy("Team %(team)s’s budget of %(limit)s tokens for this month"),
}


def _count(n: int) -> str:
    return formats.number_format(n, force_grouping=True)


def _message(team: str | None, what: str, limit: int, used: int, held: int, resets: datetime) -> str:
    left = max(0, limit - used - held)
    name = BUDGET_NAMES[team is not None, what] % {"limit": _count(limit), "team": team}
    values = {"budget": name, "used": _count(used), "held": _count(held), "left": _count(left), **_when(resets)}
    if held:
        text = gettext(
            "%(budget)s is used up (%(used)s used, %(held)s held by answers still streaming, %(left)s left); "
            "it resets on %(date)s at %(time)s."
        )
    else:
        text = gettext("%(budget)s is used up (%(used)s used, %(left)s left); it resets on %(date)s at %(time)s.")
    return text % values


def _when(moment: datetime) -> dict:
    local = timezone.localtime(moment)
    return {"date": formats.date_format(local, "DATE_FORMAT"), "time": formats.time_format(local, "TIME_FORMAT")}


LABELS = {
    (False, "tokens today"): gettext_lazy("You: tokens today"),
    (False, "tokens this month"): gettext_lazy("You: tokens this month"),
    (False, "cost this month"): gettext_lazy("You: cost this month"),
    (True, "tokens today"): gettext_lazy("%(team)s: tokens today"),
    (True, "tokens this month"): gettext_lazy("%(team)s: tokens this month"),
    (True, "cost this month"): gettext_lazy("%(team)s: cost this month"),
}


def remaining(rules: Rules, user_id: int) -> list[dict]:
    """What is left of the budgets that apply to this user, for the composer: one entry per
    limit, {"label", "left", "limit", "resets"} (ISO 8601)."""
    return remaining_for(rules, {user_id: None})[user_id]


def remaining_for(rules: Rules, users: dict[int, str | None]) -> dict[int, list[dict]]:
    """remaining() for many users at once, read together (answers that end together are told
    what is left in one database call); users: each user's language for the labels (None: the
    current one)."""
    shown: dict[int, list[dict]] = {user_id: [] for user_id in users}
    if not rules.any_budget:
        return shown
    checker = Budgets(rules, set(users), lock=False)
    if not (checker.by_user or checker.by_team):
        return shown
    for user_id, language in users.items():
        with translation.override(language) if language else contextlib.nullcontext():
            shown[user_id] = _left(rules, checker, user_id)
    return shown


def _left(rules: Rules, checker: Budgets, user_id: int) -> list[dict]:
    shown = []
    for whose, budget, tally in [
        *((None, budget, checker.users[user_id]) for budget in [checker.by_user.get(user_id)] if budget),
        *(
            (rules.names.get(team, ""), checker.by_team[team], checker.teams[team])
            for team in rules.teams_of.get(user_id, ())
            if team in checker.by_team
        ),
    ]:
        for kind, limit, used, resets in (
            ("tokens today", budget.tokens_per_day, tally.day_tokens, checker.day_end),
            ("tokens this month", budget.tokens_per_month, tally.month_tokens, checker.month_end),
            ("cost this month", budget.cost_per_month, tally.month_cost, checker.month_end),
        ):
            if limit is not None:
                left = limit - used - (tally.held_tokens if kind.startswith("tokens") else 0)
                label = LABELS[whose is not None, kind] % {"team": whose}
                shown.append(
                    {
                        "label": label,
                        "left": str(max(left, 0)),
                        "limit": str(limit),
                        "resets": resets.isoformat(),
                    }
                )
    return shown
