"""Admins reading other people's conversations: whose they may open, whether the site lets them
read the text, the reason it may ask for, and the record of every read (AuditEntry).

Every admin path that shows someone else's message text (the conversation's change page and its
inline, the message's change page, search results, the transcript view) asks `read()` first and
shows the text only when it answers yes; read() has written the record by then.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from chatsite.chat.models import Conversation, Message
from chatsite.reports.models import AuditEntry
from chatsite.teams.access import administered
from chatsite.teams.models import TeamSettings

Reading = TeamSettings.Reading
View = AuditEntry.View

REASONS_KEY = "reading_reasons"
REASONS_KEPT = 20  # reasons given and not yet used, per session
# A transcript's attachments are fetched by the page after it was read: they count as part of that
# read for this long.
READ_LASTS = timedelta(hours=1)


def teams_run_by(request: HttpRequest) -> list[int]:
    """The teams the user administers (superusers: every one), asked once per request."""
    if not hasattr(request, "_teams_run_by"):
        request._teams_run_by = administered(request.user)
    return request._teams_run_by


def is_team_admin(request: HttpRequest) -> bool:
    return not request.user.is_superuser and bool(teams_run_by(request))


def members_of(teams: list[int]) -> QuerySet:
    return get_user_model().objects.filter(groups__in=teams).values("pk")


def in_scope(request: HttpRequest, queryset: QuerySet, *, permitted: bool, owner: str = "owner") -> QuerySet:
    """The rows of queryset (conversations, or messages with owner="conversation__owner") this
    admin may see at all: superusers and staff with the model's permission (permitted)
    everyone's; a team admin their teams' members' (and their own)."""
    if request.user.is_superuser or permitted:
        return queryset
    teams = teams_run_by(request)
    if not teams:
        return queryset.none()
    return queryset.filter(Q(**{f"{owner}__in": members_of(teams)}) | Q(**{owner: request.user}))


def policy() -> str:
    return TeamSettings.current().transcript_reading


def consent(request: HttpRequest) -> str | None | HttpResponseRedirect:
    """Whether this request may show someone else's message text: the reason it was given
    ("" when the site asks none), None when it may not, or (in the reason mode, for a GET without
    a reason given for this very URL) the redirect to the form that asks for one."""
    mode = policy()
    # A saved form redirects; one with errors is shown again, without the text.
    if mode == Reading.OFF or request.method != "GET":
        return None
    if mode == Reading.REASON:
        reason = take_reason(request)
        return ask_reason(request) if reason is None else reason
    return ""


def read(
    request: HttpRequest, conversation: Conversation, view: str, *, message: Message | None = None
) -> bool | HttpResponseRedirect:
    """May this request show the conversation's (or one message's) text? When it may, the read
    is recorded before the answer."""
    if conversation.owner_id == request.user.pk:
        return True
    reason = consent(request)
    if reason is None:
        return False
    if isinstance(reason, HttpResponseRedirect):
        return reason
    record(request.user, [conversation], view, message=message, reason=reason)
    return True


def record(reader, conversations: list[Conversation], view: str, *, message=None, reason: str = "") -> None:
    """One AuditEntry per conversation of someone else's."""
    entries = [
        AuditEntry(
            reader=reader,
            owner_id=conversation.owner_id,
            conversation=conversation,
            conversation_code=conversation.code,
            conversation_title=conversation.title[:200],
            message=message,
            view=view,
            reason=reason,
        )
        for conversation in conversations
        if conversation.owner_id != reader.pk
    ]
    AuditEntry.objects.bulk_create(entries)


def recently_read(reader, conversation: Conversation) -> bool:
    """Whether this reader's read of the conversation (its transcript or change page) is recent
    enough for the files the page shows to be part of it."""
    if conversation.owner_id == reader.pk:
        return True
    return AuditEntry.objects.filter(
        reader=reader,
        conversation=conversation,
        view__in=[View.TRANSCRIPT, View.CHANGE],
        at__gte=timezone.now() - READ_LASTS,
    ).exists()


# -- reasons: given on a form for one URL, used by the next visit to it --------------------------


def ask_reason(request: HttpRequest) -> HttpResponseRedirect:
    url = reverse("admin:reports_auditentry_reason")
    return HttpResponseRedirect(f"{url}?{urlencode({'next': request.get_full_path()})}")


def give_reason(request: HttpRequest, path: str, reason: str) -> None:
    reasons = dict(request.session.get(REASONS_KEY, {}))
    reasons.pop(path, None)
    reasons[path] = reason
    request.session[REASONS_KEY] = dict(list(reasons.items())[-REASONS_KEPT:])


def take_reason(request: HttpRequest) -> str | None:
    """The reason given for this URL, used up: the next read asks again."""
    reasons = dict(request.session.get(REASONS_KEY, {}))
    reason = reasons.pop(request.get_full_path(), None)
    if reason is not None:
        request.session[REASONS_KEY] = reasons
    return reason
