"""Retention (manage.py pruneconversations): conversations past their owner's keep are deleted
with their files, and nothing else: not newer ones, not other users', not one answering now.

The site keeps 30 days; team Short keeps 7, team Long 90, team Plain has no rule of its own
(the site's). alice is in no team; bob in Short; charlie in Short and Long (the longest wins);
dora in Short and Plain (the site's 30 beats Short's 7).
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.sharing.models import Share
from chatsite.teams.models import Team, TeamSettings
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)  # the files go on commit, as in a real run


@pytest.fixture
def dora(django_user_model):
    return make_user(django_user_model, "dora")


def team(name: str, days: int | None, *members) -> Team:
    made = Team.objects.create(group=Group.objects.create(name=name), retention_days=days)
    made.group.user_set.add(*members)
    return made


def site_keeps(days: int | None) -> None:
    TeamSettings.objects.update_or_create(id=1, defaults={"retention_days": days})


def conversation(owner, days_old: float, *, title: str = "", streaming: bool = False, **fields) -> Conversation:
    made = Conversation.objects.create(owner=owner, title=title or f"{owner.username} {days_old}", **fields)
    Message.objects.create(conversation=made, role="user", text="hello")
    if streaming:
        Message.objects.create(conversation=made, role="assistant", text="still go", status=Message.Status.STREAMING)
    # `updated` is auto_now: an UPDATE sets the age.
    Conversation.objects.filter(pk=made.pk).update(updated=timezone.now() - timedelta(days=days_old))
    return made


def attach(made: Conversation) -> Path:
    message = made.messages.first()
    attachment = Attachment(owner=made.owner, message=message, content_type="text/plain", kind="text", size_bytes=5)
    attachment.file.save("x.txt", ContentFile(b"hello"), save=True)
    return Path(attachment.file.path)


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("pruneconversations", *args, stdout=out)
    return out.getvalue()


def titles() -> set[str]:
    return set(Conversation.objects.values_list("title", flat=True))


@pytest.fixture
def site(alice, bob, charlie, dora):
    site_keeps(30)
    team("Short", 7, bob, charlie, dora)
    team("Long", 90, charlie)
    team("Plain", None, dora)


def test_it_deletes_exactly_the_conversations_past_their_owners_keep_with_their_files(site, alice, bob, charlie, dora):
    gone = [
        conversation(alice, 31),
        conversation(alice, 40, title="alice, kept aside", pinned_at=timezone.now(), archived_at=timezone.now()),
        conversation(bob, 8),
        conversation(charlie, 91),
        conversation(dora, 31),
    ]
    kept = [
        conversation(alice, 29),
        conversation(bob, 6),
        conversation(charlie, 60),  # Short's 7 days, but Long keeps 90
        conversation(dora, 20),  # Short's 7, but Plain follows the site's 30
        conversation(alice, 100, title="alice answering", streaming=True),
    ]
    gone_file, kept_file = attach(gone[0]), attach(kept[0])
    Share.objects.create(conversation=gone[0], owner=alice, title="shared", snapshot={}, shared=timezone.now())
    before = Message.objects.count()

    out = prune()
    assert titles() == {c.title for c in kept}
    assert not gone_file.exists() and kept_file.exists()
    assert Message.objects.count() == before - 5 and not Share.objects.exists()
    assert Attachment.objects.count() == 1
    assert out.splitlines() == [
        "alice: 2 conversations",
        "bob: 1 conversation",
        "charlie: 1 conversation",
        "dora: 1 conversation",
        "Deleted 5 conversation(s), 5 message(s), 1 file(s).",
    ]
    # Run again (by the timer, an hour later): nothing more goes.
    assert prune() == "Deleted 0 conversation(s), 0 message(s), 0 file(s).\n"
    assert titles() == {c.title for c in kept}


def test_a_dry_run_says_what_would_go_and_deletes_nothing(site, alice, bob):
    old = conversation(alice, 31)
    path = attach(old)
    conversation(bob, 8)
    out = prune("--dry-run", "-v", "2")
    assert f"alice: conversation {old.code}, last used " in out
    assert out.splitlines()[-1] == "Would delete 2 conversation(s), 2 message(s), 1 file(s)."
    assert Conversation.objects.count() == 2 and path.exists()


def test_without_a_site_retention_only_teams_rules_delete(alice, bob, charlie):
    site_keeps(None)
    team("Short", 7, bob, charlie)
    team("Plain", None, charlie)  # the site's: for ever, the longest keep
    conversation(alice, 3000, title="alice, in no team")
    conversation(bob, 8, title="bob's")
    conversation(charlie, 3000, title="charlie's")
    assert prune().splitlines()[-1] == "Deleted 1 conversation(s), 1 message(s), 0 file(s)."
    assert titles() == {"alice, in no team", "charlie's"}


def test_nothing_is_deleted_without_any_retention(alice):
    conversation(alice, 10_000)
    assert prune() == "Deleted 0 conversation(s), 0 message(s), 0 file(s).\n"
    assert Conversation.objects.count() == 1


def test_a_conversation_used_again_is_kept_for_another_full_keep(site, alice):
    from chatsite.chat.retention import prune as prune_at

    made = conversation(alice, 20)
    assert prune_at(now=timezone.now()).conversations == 0
    assert prune_at(now=timezone.now() + timedelta(days=11)).conversations == 1
    assert not Conversation.objects.filter(pk=made.pk).exists()


def test_the_maintenance_timer_runs_the_command_the_app_has():
    service = Path(__file__).resolve().parent.parent / "deploy/chatsite-maintenance.service"
    assert "manage.py pruneconversations" in service.read_text()


# -- a site that keeps records: "delete" archives ----------------------------------------------


def test_when_members_may_not_delete_a_delete_archives_and_keeps_the_files(alice, bob):
    from tests.conftest import logged_in_client

    TeamSettings.objects.update_or_create(id=1, defaults={"members_may_delete": False})
    mine = conversation(alice, 1)
    path = attach(mine)
    client = logged_in_client(alice)
    assert "data-delete-archives" in client.get("/").content.decode()
    answer = client.post(f"/c/{mine.code}/delete/")
    assert answer.status_code == 200
    assert answer.json() == {
        "ok": True,
        "archived": True,
        "message": "Conversations are kept on this site: it was archived instead of deleted.",
    }
    mine.refresh_from_db()
    assert mine.archived_at is not None and path.exists() and mine.messages.count() == 1
    assert logged_in_client(bob).post(f"/c/{mine.code}/delete/").status_code == 404


def test_when_members_may_delete_a_delete_deletes_with_the_files(alice, bob):
    from tests.conftest import logged_in_client

    mine = conversation(alice, 1)
    path = attach(mine)
    client = logged_in_client(alice)
    assert "data-delete-archives" not in client.get("/").content.decode()
    assert logged_in_client(bob).post(f"/c/{mine.code}/delete/").status_code == 404
    assert client.post(f"/c/{mine.code}/delete/").json() == {"ok": True}
    assert not Conversation.objects.filter(pk=mine.pk).exists() and not path.exists()
