"""Counting what answers cost, per user, team, model and day, as they finish.

The count is one row per (day, user, team, provider, model) in DailyUsage, increased in the
same transaction that saves the answer's end, so usage and the answer never disagree and a
report reads a few thousand rows, not every message. Days and months are the server's
TIME_ZONE days and months.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from chatsite.lib.sqlrows import fetch, placeholders
from chatsite.providers.models import LanguageModel
from chatsite.teams.models import DailyUsage

MILLION = Decimal(1_000_000)


def cost_of(model: LanguageModel | None, prompt: int, cached: int, completion: int) -> Decimal | None:
    """What these tokens cost at the model's prices; None when it has none."""
    if model is None or (model.price_input is None and model.price_output is None):
        return None
    price_in = model.price_input or Decimal(0)
    price_cached = model.price_cached_input if model.price_cached_input is not None else price_in
    cached = min(cached, prompt)
    total = (prompt - cached) * price_in + cached * price_cached + completion * (model.price_output or Decimal(0))
    return (total / MILLION).quantize(Decimal("0.000001"))


@dataclass(frozen=True)
class Spent:
    """One finished answer's counts, as they are added to its day."""

    user_id: int
    team_id: int | None
    team_name: str
    provider_name: str
    model_name: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: Decimal | None
    estimated: bool


# What an answer adds to its day's row, in this order.
COUNTS = [
    "requests",
    "estimated_requests",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
]
# The row's key besides its day, in this order.
KEY = ["user_id", "team_name", "provider_name", "model_name"]


def record(spent: Spent, day: date | None = None) -> None:
    """Add the answer's counts to its day's row (made on the first answer of the day). Call it
    inside the transaction that saves the answer."""
    record_many([spent], day)


def record_many(spents: list[Spent], day: date | None = None) -> None:
    """record() for answers that end together: one read of their rows, one prepared UPDATE for
    those there, one INSERT for the rest (compiling an ORM update per answer cost a burst of
    endings more than its writes). Call it inside the transaction that saves the answers."""
    if not spents:
        return
    day = day or timezone.localdate()
    added: dict[tuple, tuple[int | None, list]] = {}  # key -> (team id, COUNTS)
    for spent in spents:
        key = (spent.user_id, spent.team_name, spent.provider_name[:100], spent.model_name[:200])
        counts = [1, int(spent.estimated), spent.prompt_tokens, spent.cached_tokens, spent.completion_tokens,
                  spent.total_tokens, spent.cost or Decimal(0)]  # fmt: skip
        if key in added:
            counts = [a + b for a, b in zip(added[key][1], counts, strict=True)]
        added[key] = (spent.team_id, counts)
    _add_or_make(day, added)


def _add_or_make(day: date, added: dict[tuple, tuple[int | None, list]], again: bool = True) -> None:
    there = {tuple(key): pk for pk, *key in _rows(day, sorted({key[0] for key in added})) if tuple(key) in added}
    _add([(*added[key][1], pk) for key, pk in there.items()])
    new = {key: added[key] for key in added if key not in there}
    if not new:
        return
    try:
        with transaction.atomic():
            DailyUsage.objects.bulk_create(_row(day, key, *counts) for key, counts in new.items())
    except IntegrityError:
        if not again:
            raise
        _add_or_make(day, new, again=False)  # another process made one of these rows meanwhile


def _row(day: date, key: tuple, team_id: int | None, counts: list) -> DailyUsage:
    return DailyUsage(
        day=day, team_id=team_id, **dict(zip(KEY, key, strict=True)), **dict(zip(COUNTS, counts, strict=True))
    )


def _rows(day: date, users: list[int]) -> list[tuple]:
    """The ids and keys of these users' rows of the day."""
    connection = connections[DailyUsage.objects.db]
    columns = ", ".join(DailyUsage._meta.get_field(name).column for name in KEY)
    sql = (
        f"SELECT id, {columns} FROM {DailyUsage._meta.db_table}"  # noqa: S608 - only columns and placeholders go in
        f" WHERE day = %s AND user_id IN ({placeholders(users)})"
    )
    return fetch(connection, sql, [DailyUsage._meta.get_field("day").get_db_prep_value(day, connection), *users])


def _add(rows: list[tuple]) -> None:
    """Add to the rows (each: the COUNTS, then its id) in one prepared UPDATE, which adds
    atomically under any number of processes."""
    if not rows:
        return
    connection = connections[DailyUsage.objects.db]
    fields = [DailyUsage._meta.get_field(name) for name in COUNTS]
    assignments = ", ".join(f"{field.column} = {field.column} + %s" for field in fields)
    sql = f"UPDATE {DailyUsage._meta.db_table} SET {assignments} WHERE id = %s"  # noqa: S608 - only columns and placeholders go in
    params = [
        [*(field.get_db_prep_save(value, connection) for field, value in zip(fields, row[:-1], strict=True)), row[-1]]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def periods(now: datetime | None = None) -> tuple[date, date, datetime, datetime]:
    """(today, the first of this month, when today ends, when this month ends), in TIME_ZONE."""
    now = timezone.localtime(now)
    today = now.date()
    month_start = today.replace(day=1)
    zone = now.tzinfo
    day_end = datetime.combine(today + timedelta(days=1), time(), zone)
    last = calendar.monthrange(today.year, today.month)[1]
    month_end = datetime.combine(today.replace(day=last) + timedelta(days=1), time(), zone)
    return today, month_start, day_end, month_end
