"""Many users on one server: nobody's input, traffic or failure harms anyone else's answer.

Over real sockets on the real ASGI application (two users' sockets at once where the point is
about other users), against the loopback upstream; on SQLite and on PostgreSQL + Redis.
"""

import asyncio
import json
import os
import shutil

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from chatsite.chat import turns
from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.chat.runtime import current
from chatsite.teams.models import DailyUsage
from tests.conftest import answer_text, frames_until, is_done, open_socket
from tests.samples import pdf_bytes, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)


async def new_conversation(user, model) -> str:
    return str((await Conversation.objects.acreate(owner=user, model=model)).code)


async def subscribed(user, code: str):
    socket = await open_socket(user)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    return socket


async def send_raw(socket, frame: dict) -> None:
    """As a browser's JSON.stringify writes it: a lone surrogate goes as its \\u escape."""
    await socket.send_to(text_data=json.dumps(frame))


async def answered(socket, timeout: float = 5.0) -> list[dict]:
    """The frames up to the `done` of the answer a turn just started (not an earlier one's)."""
    answer: list[str] = []

    def ends(frame: dict) -> bool:
        if frame["type"] == "message" and frame["message"]["role"] == "assistant":
            answer.append(frame["message"]["id"])
        return frame["type"] == "done" and frame["message"]["id"] in answer

    return await frames_until(socket, ends, timeout)


async def next_error(socket) -> dict:
    frames = await frames_until(socket, lambda f: f["type"] == "error")
    return frames[-1]


# -- 1. one user's odd text never breaks another's turn ----------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [("x\ud800", "broken character"), ("x\x00y", "control character (U+0000)"), ("a\x1bb", "U+001B")],
)
async def test_odd_text_is_refused_with_a_reason_and_the_other_users_answer_streams(
    alice, bob, model, upstream, text, reason
):
    mine, theirs = await new_conversation(alice, model), await new_conversation(bob, model)
    alice_socket, bob_socket = await subscribed(alice, mine), await subscribed(bob, theirs)
    await asyncio.gather(
        send_raw(alice_socket, {"type": "send", "conversation": mine, "text": text}),
        send_raw(bob_socket, {"type": "send", "conversation": theirs, "text": "hello"}),
    )
    error = await next_error(alice_socket)
    assert reason in error["error"]
    frames = await frames_until(bob_socket, is_done)
    assert frames[-1]["message"]["status"] == "complete" and answer_text(frames) == "Hello, world!"
    assert not await Message.objects.filter(conversation__code=mine).aexists()  # nothing of hers saved
    # Both sockets are still open: alice sends again, properly.
    await alice_socket.send_json_to({"type": "send", "conversation": mine, "text": "tab\tand\nnewline are fine"})
    assert (await frames_until(alice_socket, is_done))[-1]["message"]["status"] == "complete"


@pytest.mark.parametrize("field", ["system_prompt", "parameters", "title"])
async def test_odd_text_in_settings_and_titles_is_refused_at_the_edge(alice, model, field):
    from django.test import Client

    code = await new_conversation(alice, model)
    client = Client()
    await sync_to_async(client.force_login)(alice)
    body = {
        "system_prompt": {"system_prompt": "be\x00nice"},
        "parameters": {"parameters": {"stop": ["\ud800"]}},
        "title": {"title": "t\x07"},
    }[field]
    url = f"/c/{code}/rename/" if field == "title" else f"/c/{code}/options/"
    answer = await sync_to_async(client.post)(url, json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert "character" in answer.json()["error"]
    conversation = await Conversation.objects.aget(code=code)
    assert (conversation.system_prompt, conversation.parameters, conversation.title) == ("", {}, "New chat")


def test_in_one_batch_a_refused_ask_fails_alone(alice, bob, model):
    mine = Conversation.objects.create(owner=alice, model=model)
    theirs = Conversation.objects.create(owner=bob, model=model)
    bad, good = turns.take_many(
        [turns.Ask(alice, str(mine.code), "x\ud800"), turns.Ask(bob, str(theirs.code), "hello")]
    )
    assert isinstance(bad, turns.ChatError) and "broken character" in bad.message
    assert isinstance(good, turns.Turn)
    assert [m.text for m in theirs.messages.order_by("pk")] == ["hello", ""]


@pytest.mark.skipif("sqlite" not in django_settings.DATABASES["default"]["ENGINE"], reason="SQLite's one writer")
def test_database_is_locked_is_retried_for_each_ask_of_a_batch(alice, bob, model):
    import sqlite3
    import threading

    from django.db import connection

    mine = Conversation.objects.create(owner=alice, model=model)
    theirs = Conversation.objects.create(owner=bob, model=model)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 100")  # so a held lock fails fast, as under load
    other = sqlite3.connect(connection.settings_dict["NAME"], check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's one write lock...
    threading.Timer(0.5, other.commit).start()  # ...for half a second
    try:
        results = turns.take_many(
            [turns.Ask(alice, str(mine.code), "first"), turns.Ask(bob, str(theirs.code), "second")]
        )
    finally:
        other.close()
    assert all(isinstance(result, turns.Turn) for result in results), results
    assert mine.messages.count() == theirs.messages.count() == 2


async def test_a_history_file_missing_from_disk_goes_as_a_note_and_the_answer_completes(alice, model, upstream):
    code = await new_conversation(alice, model)
    conversation = await Conversation.objects.aget(code=code)
    question = await Message.objects.acreate(conversation=conversation, role="user", text="See this")
    await Message.objects.acreate(conversation=conversation, role="assistant", text="Seen.")
    attachment = await sync_to_async(store_image)(alice, question)
    os.remove(attachment.file.path)
    socket = await subscribed(alice, code)
    await socket.send_json_to({"type": "send", "conversation": code, "text": "And now?"})
    frames = await answered(socket)
    assert frames[-1]["message"]["status"] == "complete"
    parts = upstream.requests[-1]["json"]["messages"][0]["content"]
    assert parts[1] == {"type": "text", "text": "[red.png: an image no longer stored on the server.]"}


async def test_a_history_file_that_cannot_be_read_ends_the_answer_as_an_error_never_streaming(alice, model, upstream):
    code = await new_conversation(alice, model)
    conversation = await Conversation.objects.aget(code=code)
    question = await Message.objects.acreate(conversation=conversation, role="user", text="See this")
    await Message.objects.acreate(conversation=conversation, role="assistant", text="Seen.")
    attachment = await sync_to_async(store_image)(alice, question)
    path = attachment.file.path
    os.remove(path)
    os.mkdir(path)  # unreadable as a file: a read error that is not "missing"
    try:
        socket = await subscribed(alice, code)
        await socket.send_json_to({"type": "send", "conversation": code, "text": "And now?"})
        frames = await answered(socket)
    finally:
        shutil.rmtree(path)
    done = frames[-1]["message"]
    assert done["status"] == "error" and "could not prepare the request" in done["error"]
    row = await Message.objects.aget(code=done["id"])
    assert row.status == "error"
    assert not upstream.requests  # nothing half-built went out
    # The conversation is not stuck: the next send is taken.
    await socket.send_json_to({"type": "send", "conversation": code, "text": "Again"})
    assert (await answered(socket))[-1]["message"]["status"] in ("complete", "error")


def store_image(user, message: Message) -> Attachment:
    from django.core.files.base import ContentFile

    attachment = Attachment(owner=user, message=message, original_name="red.png", content_type="image/png")
    data = png_bytes()
    attachment.size_bytes, attachment.width, attachment.height = len(data), 40, 30
    attachment.file.save("x", ContentFile(data), save=True)
    return attachment


# -- 2. one bad answer never stops another's saving --------------------------------------------


async def test_an_emoji_escaped_in_two_chunks_is_saved_whole_while_another_answer_keeps_saving(
    alice, bob, model, upstream
):
    mine, theirs = await new_conversation(alice, model), await new_conversation(bob, model)
    alice_socket, bob_socket = await subscribed(alice, mine), await subscribed(bob, theirs)
    tokens = [f"w{i} " for i in range(30)]
    # One of the two requests gets the split emoji, the other a slow answer: which is whose
    # does not matter, both must be whole on screen and in the database.
    upstream.script(tokens=["a", "\ud83d", "\ude00", "b"], ascii_json=True, delay=0.05)
    upstream.script(tokens=tokens, delay=0.05)
    await asyncio.gather(
        alice_socket.send_json_to({"type": "send", "conversation": mine, "text": "emoji"}),
        bob_socket.send_json_to({"type": "send", "conversation": theirs, "text": "long"}),
    )
    results = {}
    for user, socket in (("alice", alice_socket), ("bob", bob_socket)):
        frames = await frames_until(socket, is_done)
        results[user] = (answer_text(frames), frames[-1]["message"])
    texts = sorted(text for text, _ in results.values())
    assert texts == sorted(["a\U0001f600b", "".join(tokens)])
    for text, done in results.values():
        assert done["status"] == "complete" and done["text"] == text
        assert (await Message.objects.aget(code=done["id"])).text == text


async def test_the_flusher_writes_row_by_row_when_one_answer_cannot_be_stored(alice, bob, model):
    from chatsite.chat.generation import Generation
    from chatsite.chat.saving import Flusher, save_final

    answers = []
    for user in (alice, bob):
        conversation = await Conversation.objects.acreate(owner=user, model=model)
        answers.append(await Message.objects.acreate(conversation=conversation, role="assistant", status="streaming"))
    runtime = current()
    generations = {}
    for answer in answers:
        generation = Generation(runtime, "0" * 32, answer, None)
        generations[answer.pk] = generation
    # What the chunk decoder never lets through, put there by hand: text no database stores.
    generations[answers[0].pk].streams["text"].parts.append("bad\ud800")
    generations[answers[1].pk].streams["text"].parts.append("good text")
    flusher = Flusher(generations)
    from chatsite.chat.saving import _write_growing

    failed = await _write_growing(flusher.due(0))
    assert failed == [answers[0].pk]  # the bad row alone failed...
    assert (await Message.objects.aget(pk=answers[1].pk)).text == "good text"  # ...the other was saved
    # Its final save is retried with what cannot be stored dropped: the answer ends, its text kept.
    answers[0].text, answers[0].status = "bad\ud800", "error"
    await save_final(answers[0])
    row = await Message.objects.aget(pk=answers[0].pk)
    assert (row.text, row.status) == ("bad", "error")


async def test_answers_ending_together_are_saved_together_and_counted_exactly(alice, bob, model, upstream):
    """Over the real socket: three answers (two of Alice's in two tabs, one of Bob's) end at the
    same moment and are saved in one batch (saving.Endings); each is saved whole, and each day's
    usage row adds up to what its user's answers used, a row that was there and one made now."""
    upstream.script(tokens=["warm", "up"])
    socket = await open_socket(alice)
    await socket.send_json_to({"type": "send", "text": "first"})
    await frames_until(socket, is_done)  # Alice's row of the day exists; Bob's does not yet
    sockets = [socket, await open_socket(alice), await open_socket(bob)]
    for _ in sockets:
        upstream.script(tokens=["one ", "two ", "three"], delay=0.05)
    await asyncio.gather(*(s.send_json_to({"type": "send", "text": "together"}) for s in sockets))
    done = [(await frames_until(s, is_done))[-1]["message"] for s in sockets]
    for message in done:
        assert message["status"] == "complete" and message["text"] == "one two three"
        saved = await Message.objects.aget(code=message["id"])
        assert (saved.status, saved.text, saved.total_tokens) == ("complete", "one two three", message["total_tokens"])
    rows = {row.user_id: row async for row in DailyUsage.objects.all()}
    alice_answers = [m async for m in Message.objects.filter(conversation__owner=alice, role="assistant")]
    assert rows[alice.pk].requests == 3 and rows[bob.pk].requests == 1
    assert rows[alice.pk].total_tokens == sum(m.total_tokens for m in alice_answers)
    assert rows[bob.pk].total_tokens == done[2]["total_tokens"]
    for s in sockets:
        await s.disconnect()


async def ended_answers(model, users, texts) -> list:
    """Streaming answers of these users, ended with these texts, and what each used."""
    from chatsite.teams.usage import Spent

    ended = []
    for user, text in zip(users, texts, strict=True):
        conversation = await Conversation.objects.acreate(owner=user, model=model)
        answer = await Message.objects.acreate(conversation=conversation, role="assistant", status="streaming")
        answer.text, answer.status, answer.total_tokens = text, "complete", 7
        ended.append((answer, Spent(user.pk, None, "", "Loopback", model.name, 4, 0, 3, 7, None, False)))
    return ended


async def test_answers_saved_together_add_to_their_days_rows(alice, bob, model):
    """One batch of endings (saving.Endings): two of Alice's answers add to the row she has,
    Bob's makes his; every answer is saved."""
    from chatsite.chat.saving import _save_ended

    await _save_ended(await ended_answers(model, [alice], ["before"]))
    ended = await ended_answers(model, [alice, bob, alice], ["one", "two", "three"])
    await _save_ended(ended)
    saved = [await Message.objects.aget(pk=answer.pk) for answer, _ in ended]
    assert [(m.text, m.status, m.total_tokens) for m in saved] == [
        ("one", "complete", 7),
        ("two", "complete", 7),
        ("three", "complete", 7),
    ]
    rows = {row.user_id: row async for row in DailyUsage.objects.all()}
    assert (rows[alice.pk].requests, rows[alice.pk].prompt_tokens, rows[alice.pk].total_tokens) == (3, 12, 21)
    assert (rows[bob.pk].requests, rows[bob.pk].completion_tokens, rows[bob.pk].total_tokens) == (1, 3, 7)


async def test_answers_that_end_together_before_reaching_the_provider_are_saved_and_count_nothing(
    alice, bob, model, caplog
):
    """Saved in their batch, with nothing to add to anyone's day (no failed statement, no retry)."""
    from chatsite.chat.saving import _save_ended

    ended = [(answer, None) for answer, _ in await ended_answers(model, [alice, bob], ["", ""])]
    for answer, _ in ended:
        answer.status, answer.error, answer.total_tokens = "error", "The provider could not be reached.", None
    await _save_ended(ended)
    assert [(m.status, m.error) async for m in Message.objects.filter(role="assistant").order_by("pk")] == [
        ("error", "The provider could not be reached."),
    ] * 2
    assert not await DailyUsage.objects.aexists()
    assert not [record for record in caplog.records if record.name == "chatsite.chat.saving"]


async def test_a_batch_of_endings_with_one_the_database_refuses_saves_the_others(alice, bob, model):
    """Answers that end together are written in one transaction; one the database cannot store
    is saved alone (what cannot be stored dropped), and the others are saved all the same."""
    from chatsite.chat.saving import _save_ended

    ended = await ended_answers(model, [alice, bob, alice], ["good", "bad\ud800", "also good"])
    await _save_ended(ended)
    saved = [await Message.objects.aget(pk=answer.pk) for answer, _ in ended]
    assert [(m.text, m.status) for m in saved] == [("good", "complete"), ("bad", "complete"), ("also good", "complete")]
    rows = {row.user_id: row async for row in DailyUsage.objects.all()}
    assert (rows[alice.pk].requests, rows[alice.pk].total_tokens) == (2, 14)
    assert (rows[bob.pk].requests, rows[bob.pk].total_tokens) == (1, 7)


REFUSING_TRIGGER = {
    # A real refusal by the database, after the turn was decided (its request already started).
    "sqlite": [
        "CREATE TRIGGER refuse_message BEFORE INSERT ON chat_message WHEN NEW.text = 'refuse me' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_message() RETURNS trigger AS $$ BEGIN IF NEW.text = 'refuse me' THEN "
        "RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_message BEFORE INSERT ON chat_message FOR EACH ROW EXECUTE FUNCTION refuse_message()",
    ],
}
DROP_TRIGGER = {
    "sqlite": ["DROP TRIGGER refuse_message"],
    "postgresql": ["DROP TRIGGER refuse_message ON chat_message", "DROP FUNCTION refuse_message()"],
}


@sync_to_async
def run_sql(statements: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


async def test_a_turn_the_database_refuses_after_its_request_started_leaves_no_answer_behind(alice, model, upstream):
    from django.db import connection

    code = await new_conversation(alice, model)
    socket = await subscribed(alice, code)
    await run_sql(REFUSING_TRIGGER[connection.vendor])
    try:
        await socket.send_json_to({"type": "send", "conversation": code, "text": "refuse me"})
        frames = await frames_until(socket, lambda f: f["type"] in ("error", "done"))
        assert frames[-1]["type"] == "error" and "could not take this message" in frames[-1]["error"]
        # The answer started early is abandoned: no frame of it, no row, nothing left streaming.
        assert not [f for f in frames if f["type"] in ("message", "delta")]
        for _ in range(50):
            if not [t for t in asyncio.all_tasks() if t.get_name().startswith("generation-")]:
                break
            await asyncio.sleep(0.02)
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("generation-")]
        assert not current().generations
        assert await Message.objects.filter(conversation__code=code).acount() == 0
        assert await socket.receive_nothing(timeout=0.2)
    finally:
        await run_sql(DROP_TRIGGER[connection.vendor])
    # The next message is taken and answered as usual.
    await socket.send_json_to({"type": "send", "conversation": code, "text": "hello"})
    frames = await answered(socket)
    assert answer_text(frames) == "Hello, world!" and frames[-1]["message"]["status"] == "complete"
    await socket.disconnect()


# -- 3. unexpected frames never kill the socket --------------------------------------------------


async def test_a_deeply_nested_frame_gets_an_error_and_the_socket_stays(alice, model, upstream):
    code = await new_conversation(alice, model)
    socket = await subscribed(alice, code)
    await socket.send_to(text_data='{"type": "send", "text": ' + "[" * 10_000 + "]" * 10_000 + "}")
    assert "nested" in (await next_error(socket))["error"]
    await socket.send_json_to({"type": "send", "conversation": code, "text": "still here?"})
    assert (await frames_until(socket, is_done))[-1]["message"]["status"] == "complete"


async def test_an_unexpected_failure_while_handling_a_frame_is_an_error_frame(alice, model, upstream, monkeypatch):
    code = await new_conversation(alice, model)
    socket = await subscribed(alice, code)

    # A mock of a bug: nothing real makes the handler raise, which is the point of the guard.
    async def broken(self, frame):
        raise RuntimeError("a bug")

    from chatsite.chat.consumers import ChatConsumer

    monkeypatch.setitem(ChatConsumer.HANDLERS, "resync", broken)
    await socket.send_json_to({"type": "resync", "conversation": code})
    assert (await next_error(socket))["error"] == "chatsite could not handle that; try again."
    await socket.send_json_to({"type": "send", "conversation": code, "text": "still here?"})
    assert (await frames_until(socket, is_done))[-1]["message"]["status"] == "complete"


async def test_a_consumer_that_dies_leaves_the_channel_layer(alice, model):
    from channels.layers import get_channel_layer

    from chatsite.chat import events
    from chatsite.lib.layers import LocalChannelLayer

    code = await new_conversation(alice, model)
    socket = await subscribed(alice, code)
    await socket.send_json_to({"type": "resync", "conversation": code})
    await asyncio.sleep(0.1)
    runtime = current()
    [channel] = runtime.sockets[alice.pk]
    socket.future.cancel()  # as daphne kills an application instance
    await asyncio.gather(socket.future, return_exceptions=True)
    assert alice.pk not in runtime.sockets
    layer = get_channel_layer()
    if isinstance(layer, LocalChannelLayer):
        assert channel not in layer.handlers
        for group in (events.user_group(alice.pk), events.conversation_group(code)):
            assert channel not in layer.groups.get(group, {})


# -- 9. each user's fair share -------------------------------------------------------------------


async def test_past_the_answers_at_once_cap_a_send_is_refused_and_others_are_unaffected(
    alice, bob, model, upstream, settings
):
    settings.CHAT_ANSWERS_PER_USER = 2
    upstream.set_default(tokens=["slow"] * 40, delay=0.05)
    codes = [await new_conversation(alice, model) for _ in range(3)]
    socket = await open_socket(alice)
    for code in codes[:2]:
        await socket.send_json_to({"type": "send", "conversation": code, "text": "go"})
        await frames_until(socket, lambda f: f["type"] == "message" and f["message"]["role"] == "assistant")
    await socket.send_json_to({"type": "send", "conversation": codes[2], "text": "a third"})
    error = await next_error(socket)
    assert (
        "2 answers streaming at once, the limit" in error["error"] and "as soon as one of them ends" in error["error"]
    )
    assert not await Message.objects.filter(conversation__code=codes[2]).aexists()
    bob_code = await new_conversation(bob, model)
    bob_socket = await subscribed(bob, bob_code)
    await bob_socket.send_json_to({"type": "send", "conversation": bob_code, "text": "mine"})
    assert (await frames_until(bob_socket, is_done, timeout=10))[-1]["message"]["status"] == "complete"


async def test_past_the_messages_a_minute_cap_a_send_says_when_it_frees(
    alice, bob, model, upstream, settings, same_minute
):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    code = await new_conversation(alice, model)
    socket = await subscribed(alice, code)
    for text in ("one", "two"):
        await socket.send_json_to({"type": "send", "conversation": code, "text": text})
        await frames_until(socket, is_done)
    await socket.send_json_to({"type": "send", "conversation": code, "text": "three"})
    error = await next_error(socket)
    assert "2 messages this minute, the limit; you can send again in" in error["error"]
    assert await Message.objects.filter(conversation__code=code, role="user").acount() == 2
    bob_code = await new_conversation(bob, model)
    bob_socket = await subscribed(bob, bob_code)
    await bob_socket.send_json_to({"type": "send", "conversation": bob_code, "text": "mine"})
    assert (await frames_until(bob_socket, is_done))[-1]["message"]["status"] == "complete"


async def test_past_the_sockets_cap_a_socket_is_told_why_and_closed(alice, bob, settings):
    settings.CHAT_SOCKETS_PER_USER = 2
    open_ones = [await open_socket(alice) for _ in range(2)]
    extra = await open_socket(alice)
    frame = await extra.receive_json_from(timeout=2)
    assert frame["type"] == "error" and "2 chat tabs open, the limit" in frame["error"]
    assert (await extra.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4429}
    assert (await open_socket(bob)).accepted  # nobody else is counted against her
    await open_ones[0].disconnect()
    await asyncio.sleep(0.05)
    assert (await open_socket(alice)).accepted  # a closed tab frees its place


async def test_the_connections_to_one_provider_are_bounded_and_every_answer_still_comes(
    alice, bob, charlie, model, upstream, settings
):
    settings.PROVIDER_CONNECTIONS = 2
    upstream.set_default(tokens=[f"w{i} " for i in range(10)], delay=0.03)
    sockets = []
    for user in (alice, bob, charlie):
        code = await new_conversation(user, model)
        socket = await subscribed(user, code)
        await socket.send_json_to({"type": "send", "conversation": code, "text": "go"})
        sockets.append(socket)
    for socket in sockets:
        frames = await answered(socket, timeout=10)
        assert frames[-1]["message"]["status"] == "complete"
    assert upstream.peak_streams == 2  # the third waited for a connection, then streamed


# -- 10. the files of a long history -------------------------------------------------------------


async def test_older_files_beyond_the_request_cap_go_as_text_or_a_note(alice, model, upstream, settings):
    await sync_to_async(enable_files)(model)
    code = await new_conversation(alice, model)
    conversation = await Conversation.objects.aget(code=code)
    old = await Message.objects.acreate(conversation=conversation, role="user", text="old")
    await Message.objects.acreate(conversation=conversation, role="assistant", text="ok")
    pdf = await sync_to_async(store_pdf)(alice, old, "old.pdf", "The old report")
    image = await sync_to_async(store_image)(alice, old)
    settings.CHAT_MAX_REQUEST_FILE_BYTES = pdf.size_bytes + 10  # room for one file only
    recent = await sync_to_async(store_pdf)(alice, None, "new.pdf", "The new report")
    socket = await subscribed(alice, code)
    await socket.send_json_to(
        {"type": "send", "conversation": code, "text": "compare", "attachments": [str(recent.code)]}
    )
    assert (await answered(socket))[-1]["message"]["status"] == "complete"
    messages = upstream.requests[-1]["json"]["messages"]
    old_parts, new_parts = messages[0]["content"], messages[2]["content"]
    assert new_parts[1]["type"] == "file"  # the newest file goes whole
    assert old_parts[1] == {"type": "text", "text": '<file name="old.pdf">\nThe old report\n</file>'}
    assert old_parts[2] == {
        "type": "text",
        "text": "[red.png: an image sent earlier, not sent again (the file limit of one request).]",
    }
    assert image.size_bytes  # (the image existed and was left out for the cap, not for its size)


async def test_a_message_whose_own_files_pass_the_cap_is_refused_before_any_work(alice, model, upstream, settings):
    await sync_to_async(enable_files)(model)
    code = await new_conversation(alice, model)
    recent = await sync_to_async(store_pdf)(alice, None, "big.pdf", "A big report")
    settings.CHAT_MAX_REQUEST_FILE_BYTES = recent.size_bytes - 1
    socket = await subscribed(alice, code)
    frame = {"type": "send", "conversation": code, "text": "read", "attachments": [str(recent.code)]}
    await socket.send_json_to(frame)
    error = await next_error(socket)
    assert "more than one request carries" in error["error"]
    assert not await Message.objects.filter(conversation__code=code).aexists() and not upstream.requests


def enable_files(model) -> None:
    model.files = True
    model.save(update_fields=["files"])


def store_pdf(user, message, name: str, text: str) -> Attachment:
    from django.core.files.base import ContentFile

    data = pdf_bytes(text)
    attachment = Attachment(
        owner=user, message=message, original_name=name, kind="pdf", content_type="application/pdf", text=text
    )
    attachment.size_bytes = len(data)
    attachment.file.save("x", ContentFile(data), save=True)
    return attachment


async def test_a_days_row_made_by_another_process_meanwhile_is_added_to(alice, model, monkeypatch):
    """Two processes ending answers of one user at the same moment: this one read no row of the
    day, the other made it before this one's INSERT; this one then adds to it. (The race is made
    by hiding the row from the first read: two processes cannot be timed to it in a test.)"""
    from chatsite.chat.saving import _save_ended
    from chatsite.teams import usage

    await _save_ended(await ended_answers(model, [alice], ["the other process's"]))
    reads = []
    real_rows = usage._rows

    def first_read_misses(day, users):
        reads.append(users)
        return [] if len(reads) == 1 else real_rows(day, users)

    monkeypatch.setattr(usage, "_rows", first_read_misses)
    await _save_ended(await ended_answers(model, [alice, alice], ["one", "two"]))
    [row] = [row async for row in DailyUsage.objects.all()]
    assert (row.requests, row.total_tokens) == (3, 21) and len(reads) == 2
