"""A user's history: long conversations open with their last messages, older ones as the reader
scrolls back."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from chatsite.chat.models import Conversation, Message
from tests.browser import new_context


def seed_conversation(server, username: str, pairs: int) -> str:
    """A conversation of `pairs` questions and answers (q0/a0 … ), made in the server's database."""
    server._manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from chatsite.chat.models import Conversation, Message\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        "c = Conversation.objects.create(owner=user, title='Long one')\n"
        "Message.objects.bulk_create([Message(conversation=c, role=role, text=f'{role[0]}{i}')\n"
        f"    for i in range({pairs}) for role in ('user', 'assistant')])\n"
        "print(c.code)\n",
    )
    [(code,)] = server.query("SELECT code FROM chat_conversation WHERE title = 'Long one' ORDER BY id DESC LIMIT 1")
    code = str(code)
    return code if "-" in code else f"{code[:8]}-{code[8:12]}-{code[12:16]}-{code[16:20]}-{code[20:]}"


def test_a_long_conversation_opens_with_its_last_messages_and_the_rest_come_on_scrolling_up(
    browser, chat_server, alice_state, up, watch
):
    code = seed_conversation(chat_server, "alice", 60)  # 120 messages
    context = new_context(browser, chat_server, alice_state)
    page = watch.attach(context.new_page())
    page.goto(f"/c/{code}/")
    articles = page.locator("#messages article")
    expect(articles).to_have_count(50)
    expect(articles.last.locator(".message-body")).to_have_text("a59")
    # Scrolling back to the top brings the older ones, in order, each once.
    for _ in range(10):
        page.locator("#messages").evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        if articles.count() == 120:
            break
        page.wait_for_timeout(200)
    expect(articles).to_have_count(120)
    texts = [t.strip() for t in articles.locator(".message-body").all_text_contents()]
    assert texts == [f"{role}{i}" for i in range(60) for role in ("u", "a")]
    assert not watch.console_errors
    context.close()


@pytest.mark.django_db
def test_older_messages_are_for_the_owner_only_and_come_in_pages(alice, bob):
    conversation = Conversation.objects.create(owner=alice)
    Message.objects.bulk_create(Message(conversation=conversation, role="user", text=f"m{i}") for i in range(120))
    newest = conversation.messages.order_by("-pk").first()
    client = Client()
    client.force_login(alice)
    page = client.get(f"/c/{conversation.code}/messages/", {"before": str(newest.code)}).json()
    assert [m["text"] for m in page["messages"]] == [f"m{i}" for i in range(69, 119)] and page["has_older"]
    oldest_shown = page["messages"][0]["id"]
    last = client.get(f"/c/{conversation.code}/messages/", {"before": oldest_shown}).json()
    assert len(last["messages"]) == 50 and last["has_older"]
    client.force_login(bob)
    answer = client.get(f"/c/{conversation.code}/messages/", {"before": str(newest.code)})
    assert answer.status_code == 404
    client.force_login(alice)
    assert client.get(f"/c/{conversation.code}/messages/", {"before": "nonsense"}).status_code == 404
    html = client.get(f"/c/{conversation.code}/").content.decode()
    assert re.search(r'"has_older": true', html) and html.count('"role": "user"') == 50
