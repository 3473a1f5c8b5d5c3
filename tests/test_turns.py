"""Turns written together (turns.take_many): each ask gets its own result, nobody else's."""

import uuid

import pytest

from chatsite.chat import turns
from chatsite.chat.models import Conversation, Message
from chatsite.chat.request import build

pytestmark = pytest.mark.django_db


def user_texts(turn: turns.Turn) -> list[str]:
    return [m["content"] for m in build(turn.plan).body["messages"] if m["role"] == "user"]


def test_a_batch_of_sends_writes_each_turn_in_its_own_conversation(alice, bob, model):
    mine = Conversation.objects.create(owner=alice, model=model)
    theirs = Conversation.objects.create(owner=bob, model=model)
    Message.objects.create(conversation=mine, role="user", text="Earlier question")
    Message.objects.create(conversation=mine, role="assistant", text="Earlier answer")

    a, b = turns.take_many(
        [turns.Ask(alice, str(mine.code), "Alice asks"), turns.Ask(bob, str(theirs.code), "Bob asks")]
    )

    assert (a.conversation.pk, b.conversation.pk) == (mine.pk, theirs.pk)
    assert user_texts(a) == ["Earlier question", "Alice asks"]
    assert user_texts(b) == ["Bob asks"]
    assert [m.text for m in mine.messages.order_by("pk")] == ["Earlier question", "Earlier answer", "Alice asks", ""]
    assert [(m.role, m.status) for m in theirs.messages.order_by("pk")] == [
        ("user", "complete"),
        ("assistant", "streaming"),
    ]
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.title == "Bob asks"  # a first question names its conversation
    assert mine.title == "New chat"  # a later one does not


def test_a_bad_ask_fails_alone(alice, bob, model):
    mine = Conversation.objects.create(owner=alice, model=model)
    theirs = Conversation.objects.create(owner=bob, model=model)
    other = Conversation.objects.create(owner=alice, model=model)

    results = turns.take_many(
        [
            turns.Ask(alice, str(theirs.code), "Not mine"),
            turns.Ask(alice, "not-a-uuid", "Malformed"),
            turns.Ask(alice, str(uuid.uuid4()), "Does not exist"),
            turns.Ask(alice, str(mine.code), "   "),
            turns.Ask(alice, str(mine.code), "First"),
            turns.Ask(alice, str(mine.code), "Second, while the first streams"),
            turns.Ask(alice, str(other.code), "Fine", model=str(uuid.uuid4())),
        ]
    )

    messages = [r.message if isinstance(r, turns.ChatError) else "ok" for r in results]
    assert messages == [
        turns.NOT_FOUND,  # another user's id answers like one that does not exist
        turns.NOT_FOUND,
        turns.NOT_FOUND,
        "The message is empty.",
        "ok",
        turns.STILL_STREAMING,
        "That model is not available.",
    ]
    assert not theirs.messages.exists()
    assert [m.text for m in mine.messages.order_by("pk")] == ["First", ""]
    assert not other.messages.exists()


def test_a_batchs_messages_count_against_the_minute_together(alice, bob, model, settings, same_minute):
    """The minute's counts of a batch's users are read in one go and its sends added together:
    two of Alice's sends in one batch count two, her next batch sees them, Bob's minute is his."""
    from django.core.cache import cache

    cache.clear()
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    mine = [Conversation.objects.create(owner=alice, model=model) for _ in range(4)]
    theirs = Conversation.objects.create(owner=bob, model=model)
    first = turns.take_many([turns.Ask(alice, str(c.code), "hi") for c in mine[:2]])
    assert all(isinstance(result, turns.Turn) for result in first)
    for result in first:
        Message.objects.filter(pk=result.answer.pk).update(status="complete")
    later = turns.take_many(
        [*(turns.Ask(alice, str(c.code), "again") for c in mine[2:]), turns.Ask(bob, str(theirs.code), "hi")]
    )
    assert isinstance(later[0], turns.Turn) and isinstance(later[2], turns.Turn)
    assert isinstance(later[1], turns.ChatError)
    assert "3 messages this minute, the limit" in later[1].message
