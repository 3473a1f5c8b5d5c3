"""The turn's reads in hand-written SQL (lib/sqlrows.py) give what the ORM gives: every field of
the conversation, its model and provider, and the history, with every type converted; only the
owner's conversations; the streaming answers counted as the ORM counts them. On SQLite and on
PostgreSQL, whose drivers return different types for the same columns."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connections, transaction
from django.db.models import Count
from django.utils import timezone

from chatsite.chat import turns
from chatsite.chat.budgets import Budgets
from chatsite.chat.models import Attachment, Conversation, Folder, Message, conversations_table
from chatsite.providers.models import LanguageModel, Provider
from chatsite.teams import access
from chatsite.teams.models import Budget, Team
from tests.conftest import SECRET

pytestmark = pytest.mark.django_db(transaction=True)


def fields_of(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


@pytest.fixture
def full(alice, model):
    """A conversation with every kind of field set, and a history with every kind of value."""
    model.price_input, model.price_output, model.vision, model.label = Decimal("1.25"), Decimal("10.5"), True, "A ☃"
    model.save()
    folder = Folder.objects.create(owner=alice, name="Work")
    now = timezone.now()
    conversation = Conversation.objects.create(
        owner=alice,
        model=model,
        title="二分探索 🌲",
        system_prompt="Be brief.",
        parameters={"temperature": 0.5, "max_tokens": 300},
        tools=["calculator"],
        archived_at=now,
        pinned_at=now - datetime.timedelta(days=1),
        folder=folder,
    )
    team = Team.objects.create(group=Group.objects.create(name="Ops"))
    Message.objects.create(conversation=conversation, role="user", text="q ✓")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        text="a",
        reasoning="thought",
        status=Message.Status.COMPLETE,
        finish_reason="stop",
        prompt_tokens=3,
        completion_tokens=4,
        total_tokens=7,
        usage_estimated=True,
        tool_calls=[{"name": "calculator", "arguments": {"x": [1, 2]}}],
        citations=[{"url": "https://example.org", "title": "É"}],
        logprobs=[["a", -0.5, [["b", -1.5]]]],
        first_token_ms=12,
        duration_ms=340,
        billed_team=team,
        reserved_tokens=0,
        cost=Decimal("0.000123"),
    )
    return conversation


def test_a_conversation_read_for_a_turn_is_the_orms(alice, full):
    expected = Conversation.objects.select_related("model__provider").get(pk=full.pk)
    with transaction.atomic():
        [read] = Conversation.objects.for_users([(alice, full.code)], lock=True)
    assert fields_of(read) == fields_of(expected)
    assert fields_of(read.model) == fields_of(expected.model)
    assert fields_of(read.model.provider) == fields_of(expected.model.provider)
    assert read.model.provider.api_key == SECRET  # decrypted, as the ORM gives it
    assert read.has_files is False


def test_a_history_read_for_a_turn_is_the_orms(full):
    expected = list(Message.objects.filter(conversation=full).order_by("pk"))
    full.has_files = False
    read = turns._histories([full])[full.pk]
    assert [fields_of(message) for message in read] == [fields_of(message) for message in expected]
    assert all(message.known_attachments == [] for message in read)


def test_a_conversation_with_a_file_and_none_without_a_model(alice, full):
    question = full.messages.first()
    Attachment.objects.create(
        owner=alice, message=question, kind=Attachment.Kind.TEXT, original_name="a.txt", size_bytes=3
    )
    bare = Conversation.objects.create(owner=alice)
    read = {c.pk: c for c in Conversation.objects.for_users([(alice, full.code), (alice, bare.code)])}
    assert read[full.pk].has_files is True
    assert read[bare.pk].model is None and read[bare.pk].has_files is False
    histories = turns._histories(list(read.values()))
    assert [a.original_name for a in histories[full.pk][0].known_attachments] == ["a.txt"]
    assert histories[bare.pk] == []


def test_only_the_owner_reads_a_conversation(alice, bob, full):
    theirs = Conversation.objects.create(owner=bob)
    # Each code only with its own user: bob's code asked for as alice's, and alice's as bob's.
    pairs = [(alice, theirs.code), (bob, full.code), (bob, theirs.code)]
    assert [c.pk for c in Conversation.objects.for_users(pairs)] == [theirs.pk]
    bob.is_active = False
    assert Conversation.objects.for_users([(bob, theirs.code)]) == []


def test_streaming_answers_are_counted_as_the_orm_counts_them(alice, bob, charlie, full, model):
    """The answers each user has streaming (their cap), and the tokens held back from alice's own
    budget and from the team's (bob's answers billed to it count; charlie's, not billed, do not)."""
    team = Team.objects.get(group__name="Ops")
    team.group.user_set.add(bob)
    Budget.objects.create(user=alice, tokens_per_day=10_000)
    Budget.objects.create(team=team, tokens_per_day=10_000)
    streams = [(alice, 100, None), (alice, 50, team), (bob, 70, team), (bob, 5, None), (charlie, 9, None)]
    for owner, reserved, billed in streams:
        conversation = full if owner == alice else Conversation.objects.create(owner=owner, model=model)
        Message.objects.create(
            conversation=conversation,
            role="assistant",
            status=Message.Status.STREAMING,
            reserved_tokens=reserved,
            billed_team=billed,
        )
    with transaction.atomic():
        budgets = Budgets(access.rules(), {alice.pk, bob.pk}, count_answers=True)
    streaming = Message.objects.filter(status=Message.Status.STREAMING, conversation__owner__in=[alice, bob])
    expected = {
        row["conversation__owner"]: row["count"]
        for row in streaming.values("conversation__owner").annotate(count=Count("id"))
    }
    assert dict(budgets.answers) == expected == {alice.pk: 2, bob.pk: 2}
    assert budgets.users[alice.pk].held_tokens == 150
    assert budgets.teams[team.pk].held_tokens == 120
    assert bob.pk not in budgets.users  # no budget of his own


def test_budgets_and_what_was_spent_are_read_as_the_orm_reads_them(alice, bob, charlie, full, model):
    """A batch's budgets (every field, a cost as a Decimal) and what was spent against them this
    month and today, per user and per team: last month's and other users' rows do not count."""
    from chatsite.teams.models import DailyUsage
    from chatsite.teams.usage import periods

    team = Team.objects.get(group__name="Ops")
    team.group.user_set.add(alice, bob)
    Budget.objects.create(user=alice, tokens_per_day=10_000, messages_per_minute=5)
    Budget.objects.create(team=team, tokens_per_month=90_000, cost_per_month=Decimal("12.50"))
    Budget.objects.create(user=charlie, tokens_per_day=1)
    access.changed()
    today, month_start, _, _ = periods()
    spent = [
        (alice, None, today, 100, "0.010000"),
        (alice, team, today, 40, "0.004000"),
        (bob, team, month_start, 7, "0.000700") if month_start != today else (bob, team, today, 7, "0.000700"),
        (alice, None, month_start - datetime.timedelta(days=1), 1_000, "1.000000"),  # last month
        (charlie, None, today, 3, "0.000300"),  # not in the batch
    ]
    for user, billed, day, tokens, cost in spent:
        DailyUsage.objects.create(
            day=day, user=user, team=billed, team_name=billed.group.name if billed else "",
            provider_name="Loopback", model_name=model.name, requests=1, total_tokens=tokens, cost=Decimal(cost),
        )  # fmt: skip
    with transaction.atomic():
        budgets = Budgets(access.rules(), {alice.pk, bob.pk})
    assert fields_of(budgets.by_user[alice.pk]) == fields_of(Budget.objects.get(user=alice))
    assert fields_of(budgets.by_team[team.pk]) == fields_of(Budget.objects.get(team=team))
    assert isinstance(budgets.by_team[team.pk].cost_per_month, Decimal)
    assert set(budgets.by_user) == {alice.pk}  # charlie is not in the batch; bob has none of his own
    mine, ours = budgets.users[alice.pk], budgets.teams[team.pk]
    assert (mine.day_tokens, mine.month_tokens, mine.month_cost) == (140, 140, Decimal("0.014"))
    same_day = 7 if month_start == today else 0
    assert (ours.day_tokens, ours.month_tokens, ours.month_cost) == (40 + same_day, 47, Decimal("0.0047"))


def test_new_rows_are_written_as_bulk_create_writes_them(alice, full, model):
    """Every field written (defaults, JSON, the creation time), each instance given its own
    primary key, the conversation's key taken by its new messages; in batches past the
    backend's parameter limit (SQLite's 999 at once: a few dozen messages a statement)."""
    connection = connections["default"]
    conversation = Conversation(owner=alice, model=model, parameters={"temperature": 0.2}, tools=["calculator"])
    messages = [
        Message(conversation=conversation, role="user", text=f"question {i} ✓", tool_calls=[{"i": i}])
        for i in range(120)
    ]
    with transaction.atomic():
        conversations_table().insert(connection, [conversation])
        turns._MESSAGES.insert(connection, messages)
    assert conversation.pk is not None and not conversation._state.adding
    assert fields_of(Conversation.objects.get(pk=conversation.pk)) == fields_of(conversation)
    assert [m.pk for m in messages] == sorted({m.pk for m in messages})
    stored = {m.pk: m for m in Message.objects.filter(conversation=conversation)}
    assert len(stored) == 120
    assert all(fields_of(stored[m.pk]) == fields_of(m) for m in messages)
    assert stored[messages[7].pk].text == "question 7 ✓" and stored[messages[7].pk].status == Message.Status.COMPLETE


def test_moving_conversations_up_changes_only_them(alice, bob, full, model):
    theirs = Conversation.objects.create(owner=bob)
    before = Conversation.objects.get(pk=theirs.pk).updated
    later = timezone.now() + datetime.timedelta(minutes=5)
    conversations_table().touch(connections["default"], [full.pk], "updated", later)
    assert Conversation.objects.get(pk=full.pk).updated == later
    assert Conversation.objects.get(pk=theirs.pk).updated == before


def test_the_usable_models_read_for_a_new_chat_are_the_orms(provider, model):
    """Visible models of enabled providers, in the ORM's order, each with its provider."""
    other = Provider.objects.create(name="Another", base_url="http://127.0.0.1:9/v1", api_key="sk-other")
    LanguageModel.objects.create(provider=other, name="z/visible")
    LanguageModel.objects.create(provider=other, name="a/hidden", hidden=True)
    off = Provider.objects.create(name="Off", base_url="http://127.0.0.1:9/v1", enabled=False)
    LanguageModel.objects.create(provider=off, name="off/model")
    expected = list(LanguageModel.objects.usable())
    read = LanguageModel.objects.usable_list()
    assert [m.name for m in read] == [m.name for m in expected] == ["z/visible", "test/model-a"]
    assert [fields_of(m) for m in read] == [fields_of(m) for m in expected]
    assert [fields_of(m.provider) for m in read] == [fields_of(m.provider) for m in expected]
    assert read[1].provider.api_key == SECRET
