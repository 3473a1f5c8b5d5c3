"""The admin's reports: the record of reads (never added, changed or deleted here, not even by a
superuser), the form that asks why before a read, and the usage reports with their charts and CSV."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from chatsite.lib.adminaccess import ModelAdmin
from chatsite.reports import charts, reading, usage
from chatsite.reports.forms import ReasonForm, ReportForm
from chatsite.reports.models import AuditEntry, UsageReport
from chatsite.teams.models import TeamSettings

BARS_SHOWN = 20


class ReportAdmin(ModelAdmin):
    """Rows nobody writes in the admin, seen by superusers, staff with the view permission, and
    team admins (each report narrows what they see to their teams)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) or reading.is_team_admin(request)

    def has_module_permission(self, request) -> bool:
        return super().has_module_permission(request) or reading.is_team_admin(request)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReportAdmin):
    list_display = ["at", "reader", "owner", "conversation_title", "view", "reason"]
    list_filter = [
        "view",
        ("reader", admin.RelatedOnlyFieldListFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
        "at",
    ]
    search_fields = ["reader__username", "owner__username", "conversation_title", "reason"]
    list_select_related = ["reader", "owner"]
    date_hierarchy = "at"
    show_full_result_count = False
    actions = None

    def get_queryset(self, request):
        entries = super().get_queryset(request)
        if request.user.is_superuser or super().has_view_permission(request):
            return entries
        # A team admin: the reads of their members' conversations, and their own reads.
        return entries.filter(Q(owner__in=reading.members_of(reading.teams_run_by(request))) | Q(reader=request.user))

    def get_urls(self):
        reason = path("reason/", self.admin_site.admin_view(self.reason_view), name="reports_auditentry_reason")
        return [reason, *super().get_urls()]

    def reason_view(self, request: HttpRequest) -> HttpResponse:
        """Asks why before someone else's conversation is read (the reason mode), then goes on to
        it: the reason is used by that one visit."""
        next_url = request.POST.get("next") or request.GET.get("next", "")
        local = url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()})
        if not local or not next_url.startswith(reverse("admin:index")):
            return HttpResponseBadRequest(_("There is nothing to read here."))
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            reading.give_reason(request, next_url, form.cleaned_data["reason"])
            return redirect(next_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Why read this conversation?"),
            "form": form,
            "next": next_url,
        }
        return TemplateResponse(request, "admin/reports/reason.html", context)


@admin.register(UsageReport)
class UsageReportAdmin(ReportAdmin):
    """The report itself is the change list: requests, tokens and cost over a period, by user,
    group, model, provider or day, with its charts and CSV."""

    def get_queryset(self, request):
        return usage.rows_for(request, super().get_queryset(request)).select_related("user")

    def get_urls(self):
        csv_view = path("csv/", self.admin_site.admin_view(self.csv_view), name="reports_usagereport_csv")
        return [csv_view, *super().get_urls()]

    def _report(self, request: HttpRequest) -> tuple[ReportForm, dict]:
        if request.method != "GET":
            raise PermissionDenied
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ReportForm(request.GET)
        if not form.is_valid():
            return form, {}
        return form, form.cleaned_data

    def changelist_view(self, request, extra_context=None):
        form, chosen = self._report(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Usage reports"),
            "form": form,
            "currency": TeamSettings.current().currency,
        }
        if chosen:
            rows = self.get_queryset(request)
            by, metric = chosen["by"], chosen["metric"]
            lines = usage.totals(rows, chosen["start"], chosen["end"], by)
            days = usage.per_day(rows, chosen["start"], chosen["end"])
            shown = _shown(metric)
            metric_label = dict(form.fields["metric"].choices)[metric]
            by_label = usage.BY[by][0]
            query = request.GET.urlencode()
            context.update(
                chosen=chosen,
                by_label=by_label,
                lines=lines,
                total=usage.grand_total(lines),
                day_chart=charts.columns(
                    [(day.key.isoformat(), getattr(day, metric)) for day in days],
                    _("%(metric)s per day") % {"metric": metric_label},
                    shown,
                    "chart-days",
                ),
                by_chart=None
                if by == "day"
                else charts.bars(
                    [(_key(line.key), getattr(line, metric)) for line in _top(lines, metric)],
                    _("%(metric)s per %(by)s") % {"metric": metric_label, "by": by_label},
                    shown,
                    "chart-by",
                ),
                csv_url=f"{reverse('admin:reports_usagereport_csv')}?{query}",
                rows_csv_url=f"{reverse('admin:reports_usagereport_csv')}?{query}&rows=1",
            )
        return TemplateResponse(request, "admin/reports/usage.html", context)

    def csv_view(self, request: HttpRequest) -> HttpResponse:
        form, chosen = self._report(request)
        if not chosen:
            return HttpResponseBadRequest(" ".join(str(error) for error in form.errors.values()))
        rows = self.get_queryset(request)
        start, end = chosen["start"], chosen["end"]
        if request.GET.get("rows"):
            lines = usage.csv_rows(rows, start, end)
            name = f"usage-{start}-{end}.csv"
        else:
            lines = usage.csv_lines(usage.totals(rows, start, end, chosen["by"]), chosen["by"])
            name = f"usage-by-{chosen['by']}-{start}-{end}.csv"
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def _key(key) -> str:
    if key is None or key == "":
        return _("(no group)")
    return key.isoformat() if hasattr(key, "isoformat") else str(key)


def _top(lines: list[usage.Line], metric: str) -> list[usage.Line]:
    return sorted(lines, key=lambda line: -getattr(line, metric))[:BARS_SHOWN]


def _shown(metric: str):
    if metric == "cost":
        return lambda value: number_format(value, 2, force_grouping=True)
    return lambda value: number_format(int(value), 0, force_grouping=True)
