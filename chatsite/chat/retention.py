"""Retention: deleting conversations not used for longer than their owner's keep, with their
files (manage.py pruneconversations, run hourly by the maintenance timer).

A conversation's age is the time since it was last used (`updated`: its last message, a
rename, a change of model or settings; pinning and archiving leave it alone). How long a user's
conversations are kept: the site's retention_days (TeamSettings), unless they are in a team,
where each team keeps its own retention_days or, without one, the site's; in several teams the
longest keep wins (a team's records are not cut short by another team's shorter rule), and no
retention (empty) is the longest. Pinned and archived conversations are deleted like any other:
retention is the site's rule, not the user's choice. A conversation with an answer streaming is
never touched, and neither is any conversation that a turn uses while pruning runs (its row is
locked and checked again before it is deleted).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.teams.models import TeamSettings

BATCH = 200  # conversations deleted in one transaction: short ones, so turns are not held up
USERS_PER_QUERY = 500  # owners in one IN (…) (SQLite's limit on parameters is far above)

FOREVER = None


@dataclass
class Pruned:
    """What a run deleted (or, dry, would delete)."""

    conversations: int = 0
    messages: int = 0
    files: int = 0
    by_owner: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    deleted: list[tuple[str, str, datetime]] = field(default_factory=list)  # (owner, code, last used)


def _longer(a: int | None, b: int | None) -> int | None:
    return FOREVER if a is FOREVER or b is FOREVER else max(a, b)


def keeps() -> tuple[int | None, dict[int, int | None]]:
    """(the site's days, {user id: days} for every user in a team); None keeps for ever."""
    site = TeamSettings.current().retention_days
    membership = get_user_model().groups.through.objects.filter(group__team__isnull=False)
    per_user: dict[int, int | None] = {}
    for user, days in membership.values_list("user_id", "group__team__retention_days"):
        days = site if days is None else days
        per_user[user] = _longer(per_user[user], days) if user in per_user else days
    return site, per_user


def _rules(now: datetime) -> Iterator[Q]:
    """One filter per (keep, some of its owners): the conversations past their owner's keep."""
    site, per_user = keeps()
    by_days: defaultdict[int, list[int]] = defaultdict(list)
    for user, days in per_user.items():
        if days is not FOREVER:
            by_days[days].append(user)
    for days, users in sorted(by_days.items()):
        for start in range(0, len(users), USERS_PER_QUERY):
            yield Q(owner__in=users[start : start + USERS_PER_QUERY], updated__lt=now - timedelta(days=days))
    if site is not FOREVER:
        # Everyone in no team (a subquery: the members of teams may be many).
        in_teams = get_user_model().groups.through.objects.filter(group__team__isnull=False).values("user_id")
        yield Q(updated__lt=now - timedelta(days=site)) & ~Q(owner__in=in_teams)


def _unanswered(queryset):
    # Streaming answers are the live ones; one left by a dead process is marked interrupted by
    # reapanswers (which the timer runs too), after which its conversation can go.
    return queryset.exclude(messages__status=Message.Status.STREAMING)


def prune(*, now: datetime | None = None, dry_run: bool = False) -> Pruned:
    """Delete every conversation past its owner's keep, with its messages and files."""
    now = now or timezone.now()
    pruned = Pruned()
    for rule in _rules(now):
        due = _unanswered(Conversation.objects.filter(rule)).order_by("pk")
        if dry_run:
            _count(pruned, due)
            continue
        while True:
            with transaction.atomic():
                # Locked, then checked again: a turn that began meanwhile moved `updated`, or
                # holds the row until its answer is saved as streaming.
                ids = list(due.select_for_update(of=("self",)).values_list("pk", flat=True)[:BATCH])
                if not ids:
                    break
                batch = _unanswered(Conversation.objects.filter(rule, pk__in=ids))
                _count(pruned, batch)
                delete(batch)
    return pruned


def _count(pruned: Pruned, conversations) -> None:
    rows = conversations.annotate(
        message_count=Count("messages", distinct=True), file_count=Count("messages__attachments", distinct=True)
    ).values_list("owner__username", "code", "updated", "message_count", "file_count")
    for owner, code, updated, messages, files in rows:
        pruned.conversations += 1
        pruned.messages += messages
        pruned.files += files
        pruned.by_owner[owner] += 1
        pruned.deleted.append((owner, str(code), updated))


def delete(conversations: QuerySet[Conversation]) -> None:
    """Delete these conversations with their messages, links and files (a user's delete too).
    The files go once the deletion is committed: a rolled-back one keeps them."""
    names = list(
        Attachment.objects.filter(message__conversation__in=conversations.values("pk")).values_list("file", flat=True)
    )
    conversations.delete()
    storage = Attachment._meta.get_field("file").storage
    # storage.delete ignores a file already gone: a second run, or two at once, is harmless.
    transaction.on_commit(lambda: [storage.delete(name) for name in names if name])
