"""Usage reports: requests, tokens and cost per user, group, model, provider or day over a period,
summed from the daily counts (DailyUsage) only, never from the messages."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F, QuerySet, Sum
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from chatsite.reports.reading import teams_run_by
from chatsite.teams.models import DailyUsage

# What a report can be by: the name in the URL, the label, the DailyUsage column.
BY = {
    "user": (gettext_lazy("user"), "user__username"),
    "group": (gettext_lazy("group"), "team_name"),
    "model": (gettext_lazy("model"), "model_name"),
    "provider": (gettext_lazy("provider"), "provider_name"),
    "day": (gettext_lazy("day"), "day"),
}
SUMS = ("requests", "prompt_tokens", "cached_tokens", "completion_tokens", "total_tokens", "cost")


def rows_for(request: HttpRequest, rows: QuerySet | None = None) -> QuerySet[DailyUsage]:
    """The daily counts (of rows) this admin may see: superusers and staff with the permission
    all of them, a team admin those billed to their teams."""
    user = request.user
    rows = DailyUsage.objects.all() if rows is None else rows
    if user.is_superuser or user.has_perm("teams.view_dailyusage") or user.has_perm("reports.view_usagereport"):
        return rows
    return rows.filter(team_id__in=teams_run_by(request))


@dataclass(frozen=True)
class Line:
    key: object  # a username, group, model, provider name or a date
    requests: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: Decimal


def _sums(rows: QuerySet, column: str) -> QuerySet:
    return (
        rows.order_by().values(key=F(column)).annotate(**{name: Sum(name) for name in SUMS}).values_list("key", *SUMS)
    )


COST_PLACES = Decimal("0.000001")  # as DailyUsage keeps it (SQLite's sums of decimals drift)


def _line(values: tuple) -> Line:
    key, *counts, cost = values
    return Line(key, *(value or 0 for value in counts), Decimal(cost or 0).quantize(COST_PLACES))


def totals(rows: QuerySet, start: date, end: date, by: str) -> list[Line]:
    """One line per user (group, model, provider or day) with anything in [start, end], the most
    tokens first (days in order)."""
    lines = [_line(values) for values in _sums(rows.filter(day__gte=start, day__lte=end), BY[by][1])]
    if by == "day":
        return sorted(lines, key=lambda line: line.key)
    return sorted(lines, key=lambda line: (-line.total_tokens, str(line.key)))


def per_day(rows: QuerySet, start: date, end: date) -> list[Line]:
    """Every day of [start, end], those without use too (for the chart)."""
    found = {line.key: line for line in totals(rows, start, end, "day")}
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [found.get(day) or Line(day, 0, 0, 0, 0, 0, Decimal(0)) for day in days]


def grand_total(lines: list[Line]) -> Line:
    return Line(
        None,
        *(sum((getattr(line, name) for line in lines), Decimal(0) if name == "cost" else 0) for name in SUMS),
    )


# -- CSV --------------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    # A spreadsheet runs a cell that starts like a formula: names come from users and providers.
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(lines: list[Line], by: str) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([by, *SUMS])
    for line in lines:
        yield writer.writerow([_cell("" if line.key is None else line.key), *(getattr(line, n) for n in SUMS)])


def csv_rows(rows: QuerySet, start: date, end: date) -> Iterator[str]:
    """Every daily count of [start, end], one line each, read in chunks."""
    writer = csv.writer(_Echo())
    columns = ("day", "user__username", "team_name", "provider_name", "model_name", *SUMS)
    yield writer.writerow(["day", "user", "group", "provider", "model", *SUMS])
    chosen = rows.filter(day__gte=start, day__lte=end).order_by("day", "pk").values_list(*columns)
    for values in chosen.iterator(chunk_size=5000):
        yield writer.writerow([_cell(value) for value in values])
