"""What a user's profile page shows of them: what they spent, and who read their conversations."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from chatsite.reports.models import AuditEntry
from chatsite.teams.models import DailyUsage

READS_SHOWN = 100


@dataclass(frozen=True)
class Spent:
    provider: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: Decimal


@dataclass(frozen=True)
class Period:
    name: str
    models: list[Spent]

    @property
    def total_tokens(self) -> int:
        return sum(spent.total_tokens for spent in self.models)

    @property
    def cost(self) -> Decimal:
        return sum((spent.cost for spent in self.models), Decimal(0))


def _per_model(rows: QuerySet) -> list[Spent]:
    sums = (
        rows.values("provider_name", "model_name")
        .annotate(
            requests_sum=Sum("requests"),
            prompt_sum=Sum("prompt_tokens"),
            completion_sum=Sum("completion_tokens"),
            total_sum=Sum("total_tokens"),
            cost_sum=Sum("cost"),
        )
        .order_by("-total_sum", "model_name", "provider_name")
    )
    return [
        Spent(
            provider=row["provider_name"],
            model=row["model_name"],
            requests=row["requests_sum"],
            prompt_tokens=row["prompt_sum"],
            completion_tokens=row["completion_sum"],
            total_tokens=row["total_sum"],
            cost=row["cost_sum"],
        )
        for row in sums
    ]


def usage_of(user, today: date | None = None) -> list[Period]:
    """Today's and this month's usage per model, from the daily counts (never the messages).
    Days are the server's (TIME_ZONE), as the counts are."""
    today = today or timezone.localdate()
    mine = DailyUsage.objects.filter(user=user)
    return [
        Period(gettext("Today"), _per_model(mine.filter(day=today))),
        Period(
            date_format(today, "YEAR_MONTH_FORMAT"),
            _per_model(mine.filter(day__gte=today.replace(day=1), day__lte=today)),
        ),
    ]


def reads_of(user) -> list[AuditEntry]:
    """The latest times an admin read one of the user's conversations."""
    return list(AuditEntry.objects.filter(owner=user).select_related("reader").order_by("-at")[:READS_SHOWN])
