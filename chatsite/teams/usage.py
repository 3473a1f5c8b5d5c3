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

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

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


def record(spent: Spent, day: date | None = None) -> None:
    """Add the answer's counts to its day's row (made on the first answer of the day). Call it
    inside the transaction that saves the answer."""
    day = day or timezone.localdate()
    key = {
        "day": day,
        "user_id": spent.user_id,
        "team_name": spent.team_name,
        "provider_name": spent.provider_name[:100],
        "model_name": spent.model_name[:200],
    }
    increments = {
        "requests": F("requests") + 1,
        "estimated_requests": F("estimated_requests") + int(spent.estimated),
        "prompt_tokens": F("prompt_tokens") + spent.prompt_tokens,
        "cached_tokens": F("cached_tokens") + spent.cached_tokens,
        "completion_tokens": F("completion_tokens") + spent.completion_tokens,
        "total_tokens": F("total_tokens") + spent.total_tokens,
        "cost": F("cost") + (spent.cost or Decimal(0)),
    }
    # An UPDATE adds atomically under any number of processes; the first answer of a day makes
    # the row, and a second process making it at the same moment falls back to the UPDATE.
    if DailyUsage.objects.filter(**key).update(**increments):
        return
    try:
        with transaction.atomic():
            DailyUsage.objects.create(
                **key,
                team_id=spent.team_id,
                requests=1,
                estimated_requests=int(spent.estimated),
                prompt_tokens=spent.prompt_tokens,
                cached_tokens=spent.cached_tokens,
                completion_tokens=spent.completion_tokens,
                total_tokens=spent.total_tokens,
                cost=spent.cost or Decimal(0),
            )
    except IntegrityError:
        DailyUsage.objects.filter(**key).update(**increments)


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
