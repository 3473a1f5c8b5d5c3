"""The forms of the admin's reports: a usage report's period and grouping, and a reason to read."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chatsite.lib.text import TextRefused, check_text
from chatsite.reports.usage import BY

MAX_DAYS = 3660  # ten years: a chart of more days says nothing more

PERIODS = [
    ("7", gettext_lazy("Last 7 days")),
    ("30", gettext_lazy("Last 30 days")),
    ("90", gettext_lazy("Last 90 days")),
    ("month", gettext_lazy("This month")),
    ("last-month", gettext_lazy("Last month")),
    ("365", gettext_lazy("Last 365 days")),
    ("year", gettext_lazy("This year")),
]
METRICS = [
    ("total_tokens", gettext_lazy("Tokens")),
    ("requests", gettext_lazy("Requests")),
    ("cost", gettext_lazy("Cost")),
]


def period_days(period: str, today: date) -> tuple[date, date]:
    if period == "month":
        return today.replace(day=1), today
    if period == "last-month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if period == "year":
        return today.replace(month=1, day=1), today
    return today - timedelta(days=int(period) - 1), today


class ReportForm(forms.Form):
    period = forms.ChoiceField(label=gettext_lazy("Period"), choices=PERIODS, required=False, initial="30")
    start = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.ChoiceField(
        label=gettext_lazy("By"), choices=[(name, label) for name, (label, _column) in BY.items()], required=False
    )
    metric = forms.ChoiceField(label=gettext_lazy("Chart"), choices=METRICS, required=False)

    def clean(self):
        cleaned = super().clean()
        today = timezone.localdate()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start or end:  # dates given win over the period
            start, end = start or (end or today) - timedelta(days=29), end or today
        else:
            start, end = period_days(cleaned.get("period") or "30", today)
        if start > end:
            raise forms.ValidationError(_("The period ends before it starts."))
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(_("A report covers at most %(days)s days.") % {"days": MAX_DAYS})
        cleaned.update(
            start=start, end=end, by=cleaned.get("by") or "user", metric=cleaned.get("metric") or "total_tokens"
        )
        return cleaned


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why do you need to read it?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Recorded with the read; the person can see it."),
    )

    def clean_reason(self) -> str:
        try:
            reason = check_text(self.cleaned_data["reason"].strip(), _("The reason"))
        except TextRefused as error:
            raise forms.ValidationError(error.message) from None
        if not reason:
            raise forms.ValidationError(_("Give a reason."))
        return reason
