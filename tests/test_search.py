"""Search over one's own conversations (chatsite/search): titles and message text, in English,
Chinese and Japanese, short words, words that look like FTS syntax, other users' conversations,
text written by a streamed answer, deletions; the search box in a real browser."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from playwright.sync_api import expect

from chatsite.chat.models import Conversation, Message
from chatsite.chat.saving import update_rows
from chatsite.search import terms
from chatsite.search.searching import search, search_all
from tests.browser import new_context
from tests.conftest import frames_until, is_done, logged_in_client, open_socket


def chat(owner, title: str, *texts: str, **fields) -> Conversation:
    """A conversation of alternating user and assistant messages."""
    conversation = Conversation.objects.create(owner=owner, title=title, **fields)
    for n, text in enumerate(texts):
        Message.objects.create(conversation=conversation, role=("user", "assistant")[n % 2], text=text)
    return conversation


def texts(found) -> list[str]:
    """What each result found: the message's text, or "title: …" for a title match."""
    return [f.message.text if f.message else f"title: {f.conversation.title}" for f in found]


def marks(pieces) -> list[str]:
    return [text for text, matched in pieces if matched]


# ---------------------------------------------------------------------------------------------
# What it finds
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_titles_and_message_text_are_found_case_aside(alice):
    chat(alice, "Planning the Postgres migration", "When do we move?", "Next week, after the backup.")
    chat(alice, "Holiday", "Pack the BACKUP drive too.")
    chat(alice, "Nothing here", "Unrelated words only.")

    assert texts(search(alice, "postgres")) == ["title: Planning the Postgres migration"]
    assert texts(search(alice, "backup")) == ["Pack the BACKUP drive too.", "Next week, after the backup."]
    # Every word must be in the same text, in any order.
    assert texts(search(alice, "week backup")) == ["Next week, after the backup."]
    assert texts(search(alice, "backup holiday")) == []
    assert texts(search(alice, "   ")) == []


@pytest.mark.django_db
def test_words_are_found_inside_longer_words(alice):
    chat(alice, "Notes", "Reconnecting to the database failed.")
    assert texts(search(alice, "connect")) == ["Reconnecting to the database failed."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("数据库连接", ["连接数据库连接池时超时了"]),
        ("连接池", ["连接数据库连接池时超时了"]),
        ("データベース", ["データベースに接続できません"]),
        ("接続", ["データベースに接続できません"]),  # two characters: a short word
        ("数据", ["连接数据库连接池时超时了"]),
        ("库", ["连接数据库连接池时超时了"]),
        ("資料庫", ["無法連接資料庫"]),
        ("データ 接続", ["データベースに接続できません"]),
    ],
)
def test_chinese_and_japanese_are_found_without_spaces(alice, query, expected):
    chat(alice, "中文", "连接数据库连接池时超时了", "無法連接資料庫")
    chat(alice, "日本語", "データベースに接続できません")
    chat(alice, "English", "The database connection timed out")
    assert texts(search(alice, query)) == expected


@pytest.mark.django_db
def test_a_chinese_title_is_found_and_marked(alice):
    chat(alice, "数据库连接问题", "hello")
    [found] = search(alice, "连接")
    assert found.message is None
    assert marks(found.title) == ["连接"]
    assert "".join(text for text, _ in found.title) == "数据库连接问题"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("db", ["db is down", "the DB"]),
        ("x", ["x marks"]),
        ("is", ["db is down"]),
        ("db down", ["db is down"]),  # a short word with a long one
    ],
)
def test_short_words_are_found_too(alice, query, expected):
    chat(alice, "a", "the DB", "db is down")
    chat(alice, "b", "x marks")
    assert sorted(texts(search(alice, query)), key=str.lower) == sorted(expected, key=str.lower)


@pytest.mark.django_db
def test_a_query_of_short_words_looks_through_the_newest_messages(alice, monkeypatch):
    from chatsite.search import searching

    conversation = chat(alice, "t", "ab old")
    for n in range(5):
        Message.objects.create(conversation=conversation, role="user", text=f"filler {n}")
    Message.objects.create(conversation=conversation, role="user", text="ab new")
    monkeypatch.setattr(searching, "SHORT_SCAN", 3)
    assert texts(search(alice, "ab")) == ["ab new"]


SYNTAX = [
    'She said "hello" to me',
    "glob a*b and c?d",
    "NEAR(apple pear) is literal",
    "apple and pear",
    "100% sure",
    "snake_case name",
    "x AND y OR z NOT w",
    "{body}: column filter",
    "caret ^start",
    "back\\slash",
    "semi; DROP TABLE chat_message; --",
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"hello"', ['She said "hello" to me']),
        ('"', ['She said "hello" to me']),
        ('"hello', ['She said "hello" to me']),
        ("a*b", ["glob a*b and c?d"]),
        ("*", ["glob a*b and c?d"]),
        ("app*", []),
        ("NEAR(apple", ["NEAR(apple pear) is literal"]),
        ("NEAR(apple pear)", ["NEAR(apple pear) is literal"]),
        ("%", ["100% sure"]),
        ("_", ["snake_case name", "semi; DROP TABLE chat_message; --"]),
        ("AND", ["x AND y OR z NOT w", "apple and pear", "glob a*b and c?d"]),
        ("NOT", ["x AND y OR z NOT w"]),
        ("{body}:", ["{body}: column filter"]),
        ("body:", []),  # not a column filter: no text holds it
        ("^start", ["caret ^start"]),
        ("\\", ["back\\slash"]),
        ("chat_message; --", ["semi; DROP TABLE chat_message; --"]),
        ("'", []),
        ("' OR 1=1 --", []),
    ],
)
def test_search_syntax_in_a_query_is_looked_for_as_text(alice, query, expected):
    chat(alice, "syntax", *SYNTAX)
    assert sorted(texts(search(alice, query))) == sorted(expected)
    assert Message.objects.count() == len(SYNTAX)  # nothing was dropped


@pytest.mark.django_db
def test_matches_are_marked_in_an_excerpt_of_the_message(alice):
    long = "word " * 60 + "the Database connection to 数据库 failed " + "tail " * 60
    chat(alice, "excerpt", long)
    [found] = search(alice, "database 数据库")
    text = "".join(piece for piece, _ in found.excerpt)
    assert text.startswith("…") and text.endswith("…")
    assert len(text) < 200
    assert marks(found.excerpt) == ["Database", "数据库"]


@pytest.mark.django_db
def test_archived_conversations_are_found_and_marked(alice):
    from django.utils import timezone

    chat(alice, "kept", "zebra crossing", archived_at=timezone.now())
    chat(alice, "open", "zebra stripes")
    found = {f.message.text: f.payload()["archived"] for f in search(alice, "zebra")}
    assert found == {"zebra crossing": True, "zebra stripes": False}


# ---------------------------------------------------------------------------------------------
# Only one's own
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_users_conversations_never_appear(alice, charlie):
    chat(alice, "Alice's secret plan", "the password is hunter2 数据库")
    chat(charlie, "Charlie's own", "charlie writes about hunter2 too")
    for query in ("secret", "hunter2", "数据库", "数据", "hu", "plan", "a", "'"):
        assert all(f.conversation.owner_id == charlie.pk for f in search(charlie, query)), query
    assert texts(search(charlie, "hunter2")) == ["charlie writes about hunter2 too"]
    # The column that narrows a search to its owner cannot be named from a query.
    alice_token = terms.owner_token(alice.pk)
    for query in (f'{{owner}}: "{alice_token}"', alice_token, f"owner:{alice_token} hunter2", "} OR {body}: hunter2"):
        assert all(f.conversation.owner_id == charlie.pk for f in search(charlie, query)), query
    # Through the page's endpoint, too.
    answer = logged_in_client(charlie).get("/search/", {"q": "secret"})
    assert answer.status_code == 200
    assert answer.json()["results"] == []
    assert "hunter2" not in logged_in_client(charlie).get("/search/", {"q": "password"}).content.decode()


@pytest.mark.django_db
def test_a_deactivated_user_finds_nothing(alice):
    chat(alice, "mine", "zebra")
    alice.is_active = False
    assert search(alice, "zebra") == []


@pytest.mark.django_db
def test_the_search_needs_a_login(alice):
    from django.test import Client

    chat(alice, "mine", "zebra")
    answer = Client().get("/search/", {"q": "zebra"})
    assert answer.status_code == 302
    assert "/accounts/login/" in answer["Location"]


@pytest.mark.django_db
def test_a_conversation_given_to_another_user_is_found_by_them_only(alice, bob):
    conversation = chat(alice, "handed over", "giraffe notes")
    conversation.owner = bob
    conversation.save()
    assert texts(search(alice, "giraffe")) == []
    assert texts(search(bob, "giraffe")) == ["giraffe notes"]
    assert texts(search(bob, "handed")) == ["title: handed over"]
    assert texts(search(bob, "over giraffe")) == []  # the words of a message, not title and message together


@pytest.mark.django_db
def test_search_all_finds_everyones_for_the_admin(alice, charlie):
    chat(alice, "alpha", "shared word okapi")
    chat(charlie, "beta", "okapi as well")
    found = search_all("okapi")
    assert sorted(f.conversation.owner.username for f in found) == ["alice", "charlie"]
    assert texts(search_all("beta")) == ["title: beta"]


# ---------------------------------------------------------------------------------------------
# The index follows every write
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_text_written_by_raw_updates_is_searchable_and_the_old_text_is_not(alice):
    conversation = chat(alice, "raw", "first version")
    message = conversation.messages.get()
    update_rows(Message, ["text"], ["id"], [("second version 数据库连接", message.pk)])
    assert texts(search(alice, "first")) == []
    assert texts(search(alice, "数据库连接")) == ["second version 数据库连接"]


@pytest.mark.django_db
def test_renamed_titles_are_found_by_their_new_words(alice):
    conversation = chat(alice, "Old title")
    client = logged_in_client(alice)
    client.post(f"/c/{conversation.code}/rename/", json.dumps({"title": "蜂蜜 honey"}), content_type="application/json")
    assert texts(search(alice, "old")) == []
    assert texts(search(alice, "蜂蜜")) == ["title: 蜂蜜 honey"]


@pytest.mark.django_db
def test_deleted_conversations_and_messages_disappear(alice):
    gone = chat(alice, "to delete", "pelican brief")
    kept = chat(alice, "to keep", "pelican feather", "pelican beak")
    assert len(search(alice, "pelican")) == 3
    assert logged_in_client(alice).post(f"/c/{gone.code}/delete/").status_code == 200
    assert texts(search(alice, "pelican")) == ["pelican beak", "pelican feather"]
    assert texts(search(alice, "delete")) == []
    kept.messages.filter(text="pelican beak").delete()
    assert texts(search(alice, "pelican")) == ["pelican feather"]
    alice.delete()
    if connection.vendor == "sqlite":  # nothing of theirs is left in the index either
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM search_message")
            assert cursor.fetchone() == (0,)
            cursor.execute("SELECT count(*) FROM search_title")
            assert cursor.fetchone() == (0,)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_streamed_answer_is_searchable_once_it_ends(alice, model, upstream):
    upstream.script(tokens=["连接", "数据", "库连接", " ok ", *(f"w{n} " for n in range(30)), "ibis-done"], delay=0.02)
    conversation = await Conversation.objects.acreate(owner=alice, model=model)
    socket = await open_socket(alice)
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": "question about herons"})
    frames = await frames_until(socket, lambda f: f["type"] == "delta" and "w5" in f["text"])
    answer_id = [f for f in frames if f["type"] == "message"][-1]["message"]["id"]
    # The flusher has written some of it; a streaming answer is not searched yet.
    for _ in range(50):
        row = await Message.objects.aget(code=answer_id)
        if "数据库连接" in row.text:
            break
        await asyncio.sleep(0.02)
    assert row.status == "streaming" and "数据库连接" in row.text
    assert await sync_to_async(texts)(await sync_to_async(search)(alice, "数据库连接")) == []
    await frames_until(socket, is_done)
    found = await sync_to_async(search)(alice, "数据库连接")
    assert [str(f.message.code) for f in found] == [answer_id]
    assert [f.message.text for f in await sync_to_async(search)(alice, "ibis-done")][0].endswith("ibis-done")
    # The title made from the first message matches too: the conversation is shown once, by its message.
    [found] = await sync_to_async(search)(alice, "herons")
    assert found.message.text == "question about herons"
    assert marks(found.title) == ["herons"]
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_stopped_answer_is_searchable_with_its_partial_text(alice, model, upstream):
    upstream.script(tokens=["flamingo ", *(f"s{n} " for n in range(200))], delay=0.02)
    conversation = await Conversation.objects.acreate(owner=alice, model=model)
    socket = await open_socket(alice)
    code = str(conversation.code)
    await socket.send_json_to({"type": "subscribe", "conversation": code})
    await socket.send_json_to({"type": "send", "conversation": code, "text": "hi"})
    await frames_until(socket, lambda f: f["type"] == "delta" and f["seq"] >= 3)
    await socket.send_json_to({"type": "stop", "conversation": code})
    frames = await frames_until(socket, is_done)
    assert frames[-1]["message"]["status"] == "stopped"
    found = await sync_to_async(search)(alice, "flamingo")
    assert [str(f.message.code) for f in found] == [frames[-1]["message"]["id"]]
    await socket.disconnect()


# ---------------------------------------------------------------------------------------------
# The endpoint, and opening a conversation at a message
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_endpoint_answers_pieces_and_a_link_to_the_message(alice):
    conversation = chat(alice, "Birds", "nothing", "a <b>bold</b> heron")
    message = conversation.messages.get(text__contains="heron")
    [result] = logged_in_client(alice).get("/search/", {"q": "heron"}).json()["results"]
    assert result["conversation"] == str(conversation.code)
    assert result["message"] == str(message.code)
    assert result["excerpt"] == [["a <b>bold</b> ", False], ["heron", True]]
    assert result["url"] == f"/c/{conversation.code}/?at={message.code}"


def _page_config(client, url: str) -> dict:
    html = client.get(url).content.decode()
    return json.loads(re.search(r'<script id="chat-config" type="application/json">(.*?)</script>', html, re.S)[1])


@pytest.mark.django_db
def test_a_conversation_opens_around_the_message_and_pages_both_ways(alice):
    conversation = chat(alice, "long", *(f"m{n}" for n in range(200)))
    client = logged_in_client(alice)
    at = conversation.messages.get(text="m100")
    config = _page_config(client, f"/c/{conversation.code}/?at={at.code}")
    shown = [m["text"] for m in config["messages"]]
    assert shown == [f"m{n}" for n in range(75, 125)]
    assert (config["at"], config["has_older"], config["has_newer"]) == (str(at.code), True, True)

    newer = client.get(f"/c/{conversation.code}/messages/", {"after": config["messages"][-1]["id"]}).json()
    assert [m["text"] for m in newer["messages"]] == [f"m{n}" for n in range(125, 175)]
    assert newer["has_newer"] is True
    last = client.get(f"/c/{conversation.code}/messages/", {"after": newer["messages"][-1]["id"]}).json()
    assert [m["text"] for m in last["messages"]] == [f"m{n}" for n in range(175, 200)]
    assert last["has_newer"] is False
    older = client.get(f"/c/{conversation.code}/messages/", {"before": config["messages"][0]["id"]}).json()
    assert [m["text"] for m in older["messages"]] == [f"m{n}" for n in range(25, 75)]

    # Near the start: no older ones.
    first = _page_config(client, f"/c/{conversation.code}/?at={conversation.messages.get(text='m3').code}")
    assert [m["text"] for m in first["messages"]] == [f"m{n}" for n in range(0, 28)]
    assert (first["has_older"], first["has_newer"]) == (False, True)


@pytest.mark.django_db
def test_opening_at_a_message_of_another_conversation_opens_at_the_end(alice, charlie):
    mine = chat(alice, "mine", *(f"a{n}" for n in range(60)))
    theirs = chat(charlie, "theirs", "charlie's words")
    client = logged_in_client(alice)
    for at in (theirs.messages.get().code, "not-a-uuid", ""):
        config = _page_config(client, f"/c/{mine.code}/?at={at}")
        assert [m["text"] for m in config["messages"]] == [f"a{n}" for n in range(10, 60)]
        assert config["at"] is None and config["has_newer"] is False
    answer = client.get(f"/c/{mine.code}/messages/", {"after": theirs.messages.get().code})
    assert answer.status_code == 404
    assert client.get(f"/c/{theirs.code}/?at={theirs.messages.get().code}").status_code == 404


# ---------------------------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------------------------


def _seed(server, username: str, title: str, texts: list[str]) -> str:
    """A conversation in the server's database; its id."""
    server._manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from chatsite.chat.models import Conversation, Message\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        f"c = Conversation.objects.create(owner=user, title={title!r})\n"
        f"for n, text in enumerate({texts!r}):\n"
        "    Message.objects.create(conversation=c, role=('user', 'assistant')[n % 2], text=text)\n",
    )
    [(code,)] = server.query(f"SELECT code FROM chat_conversation WHERE title = '{title}' ORDER BY id DESC LIMIT 1")
    code = str(code).replace("-", "")
    return f"{code[:8]}-{code[8:12]}-{code[12:16]}-{code[16:20]}-{code[20:]}"


def test_the_search_box_finds_chinese_and_japanese_and_opens_the_conversation_at_the_message(
    browser, chat_server, alice_state, up, watch
):
    filler = [f"filler message {n}" for n in range(120)]
    zh = _seed(chat_server, "alice", "服务器日志", [*filler[:40], "连接数据库连接池时<b>超时</b>了", *filler[40:]])
    _seed(chat_server, "alice", "データベース設計", ["テーブルの正規化について"])
    _seed(chat_server, "bob", "Bob 数据库", ["bob 的数据库连接"])
    context = new_context(browser, chat_server, alice_state)
    page = watch.attach(context.new_page())
    page.goto("/")

    # Ctrl+K goes to the box (the shortcuts' "search").
    page.locator("#composer-input").click()
    page.keyboard.press("Control+k")
    box = page.locator("#search-input")
    expect(box).to_be_focused()
    box.press_sequentially("データベース")
    results = page.locator("#search-results .search-result")
    expect(results).to_have_count(1)
    expect(results.first.locator("mark")).to_have_text("データベース")
    expect(results.first).to_contain_text("データベース設計")

    box.fill("")
    box.press_sequentially("数据库连接")
    expect(results).to_have_count(1)  # Bob's is never shown
    result = results.first
    expect(result.locator(".search-excerpt mark")).to_have_text("数据库连接")
    # The message's own markup is text here.
    expect(result.locator(".search-excerpt")).to_contain_text("<b>超时</b>")
    assert result.locator(".search-excerpt b").count() == 0

    result.locator("a").click()
    expect(page).to_have_url(re.compile(rf"/c/{zh}/\?at="))
    found = page.locator("#messages article.is-found")
    expect(found).to_have_count(1)
    expect(found.locator(".message-body")).to_contain_text("连接数据库连接池时")
    expect(found.locator("mark")).to_have_text("数据库连接")
    expect(found).to_be_in_viewport()
    # The rest of the conversation comes on scrolling, both ways, in order, each once.
    articles = page.locator("#messages article")
    for _ in range(20):
        if articles.count() == 121:
            break
        page.locator("#messages").evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        page.wait_for_timeout(100)
        page.locator("#messages").evaluate(
            "el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }"
        )
        page.wait_for_timeout(100)
    expect(articles).to_have_count(121)
    shown = [t.strip() for t in articles.locator(".message-body").all_text_contents()]
    assert shown == [*filler[:40], "连接数据库连接池时<b>超时</b>了", *filler[40:]]
    assert not watch.console_errors
    context.close()
