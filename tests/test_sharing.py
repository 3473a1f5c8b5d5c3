"""Shared links: a conversation shared read-only with the sharer's team, as it was when shared;
refused to anyone outside the team; revocable; continued as one's own copy."""

import json
import re

import pytest
from django.contrib.auth.models import Group

from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.sharing.models import Share
from chatsite.teams.models import Team
from tests.conftest import logged_in_client
from tests.histories import PAYLOAD, attach, conversation
from tests.samples import png_bytes


def make_team(name: str, *members) -> Team:
    group = Group.objects.create(name=name)
    group.user_set.add(*members)
    return Team.objects.create(group=group)


def share(user, chat) -> dict:
    response = logged_in_client(user).post(f"/c/{chat.code}/share/", content_type="application/json", data={})
    assert response.status_code == 201, response.content
    return response.json()


def path_of(link: dict) -> str:
    return re.sub(r"^https?://[^/]+", "", link["share"]["url"])


def shown_messages(response) -> list[dict]:
    """The messages the shared page gives its renderer (json_script)."""
    found = re.search(r'<script id="shared-messages" type="application/json">(.*?)</script>', response.content.decode())
    return json.loads(found.group(1))


@pytest.fixture
def research(alice, bob):
    """Alice and Bob are a team; Charlie is in another."""
    return make_team("Research", alice, bob)


def test_a_teammate_reads_the_shared_conversation_as_the_chat_shows_it(alice, bob, charlie, research):
    make_team("Sales", charlie)
    chat = conversation(alice)
    link = share(alice, chat)
    assert link["teams"] == ["Research"] and not link["everyone"]
    assert re.fullmatch(r"/s/[A-Za-z0-9_-]{43}/", path_of(link))
    response = logged_in_client(bob).get(path_of(link))
    assert response.status_code == 200
    page = response.content.decode()
    assert "二分探索と日本語のテスト" in page and "Shared by alice on" in page
    messages = shown_messages(response)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["reasoning"] == "The user wants a description; compute 2*3 first."
    assert messages[1]["tool_calls"][0]["name"] == "calculator"
    # Markup in a message reaches the page only as JSON text (the browser test renders it).
    assert messages[2]["text"].endswith(PAYLOAD) and "<img src=x" not in page
    # The link does not leak to the pages the conversation links to.
    assert response["Referrer-Policy"] == "same-origin"


def test_someone_outside_the_sharers_teams_is_refused(alice, charlie, research):
    make_team("Sales", charlie)
    link = share(alice, conversation(alice))
    response = logged_in_client(charlie).get(path_of(link))
    assert response.status_code == 403
    page = response.content.decode()
    assert "shared with a team you are not in" in page
    assert "二分探索" not in page and "alice" not in page.replace('class="username">charlie', "")
    assert logged_in_client(charlie).post(path_of(link) + "copy/").status_code == 403
    assert not Conversation.objects.filter(owner=charlie).exists()


def test_a_user_in_no_team_is_outside_every_team(alice, charlie, research):
    link = share(alice, conversation(alice))
    assert logged_in_client(charlie).get(path_of(link)).status_code == 403


def test_a_sharer_in_no_team_shares_with_everyone_on_the_site(alice, charlie):
    make_team("Sales", charlie)
    link = share(alice, conversation(alice))
    assert link["teams"] == [] and link["everyone"]
    assert logged_in_client(charlie).get(path_of(link)).status_code == 200


def test_team_membership_counts_when_the_link_is_opened(alice, bob, research):
    link = share(alice, conversation(alice))
    assert logged_in_client(bob).get(path_of(link)).status_code == 200
    research.group.user_set.remove(bob)
    assert logged_in_client(bob).get(path_of(link)).status_code == 403


def test_a_link_needs_a_login(alice, client):
    link = share(alice, conversation(alice))
    response = client.get(path_of(link))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_unknown_link_says_so(bob):
    response = logged_in_client(bob).get("/s/" + "A" * 43 + "/")
    assert response.status_code == 404 and "no shared conversation at this link" in response.content.decode()


def test_another_users_conversation_cannot_be_shared_or_its_link_seen(alice, charlie):
    chat = conversation(alice)
    client = logged_in_client(charlie)
    assert client.post(f"/c/{chat.code}/share/", content_type="application/json", data={}).status_code == 404
    assert client.get(f"/c/{chat.code}/share/").status_code == 404
    share(alice, chat)
    assert not Share.objects.filter(owner=charlie).exists()


def test_the_link_shows_the_conversation_as_it_was_until_it_is_updated(alice, bob, research):
    chat = conversation(alice)
    link = share(alice, chat)
    Message.objects.create(conversation=chat, role="user", text="A later, private question")
    Message.objects.create(conversation=chat, role="assistant", text="still being written", status="streaming")
    page = logged_in_client(bob).get(path_of(link))
    assert "A later, private question" not in [m["text"] for m in shown_messages(page)]
    again = share(alice, chat)
    assert path_of(again) == path_of(link)  # the same link, brought up to now
    texts = [m["text"] for m in shown_messages(logged_in_client(bob).get(path_of(link)))]
    assert texts[-1] == "A later, private question"  # the answer still streaming is left out
    assert again["share"]["messages"] == 5


def test_the_sharer_sees_their_link_again_and_lists_it(alice):
    chat = conversation(alice)
    link = share(alice, chat)
    client = logged_in_client(alice)
    assert client.get(f"/c/{chat.code}/share/").json()["share"]["url"] == link["share"]["url"]
    listed = client.get("/shares/").content.decode()
    assert path_of(link) in listed and "二分探索と日本語のテスト" in listed


def test_a_revoked_link_shows_nothing_and_only_its_sharer_revokes_it(alice, bob, research):
    chat = conversation(alice)
    link = share(alice, chat)
    revoke = link["share"]["revoke_url"]
    assert logged_in_client(bob).post(revoke, content_type="application/json", data={}).status_code == 404
    assert logged_in_client(bob).get(path_of(link)).status_code == 200
    response = logged_in_client(alice).post(revoke, content_type="application/json", data={})
    assert response.json() == {"ok": True}
    gone = logged_in_client(bob).get(path_of(link))
    assert gone.status_code == 410 and "revoked by the person who shared it" in gone.content.decode()
    assert logged_in_client(alice).get(f"/c/{chat.code}/share/").json()["share"] is None
    assert path_of(link) not in logged_in_client(alice).get("/shares/").content.decode()
    # Sharing again makes a new link; the revoked one stays dead.
    assert path_of(share(alice, chat)) != path_of(link)
    assert logged_in_client(bob).get(path_of(link)).status_code == 410


def test_revoking_from_the_list_page_goes_back_to_it(alice):
    link = share(alice, conversation(alice))
    response = logged_in_client(alice).post(link["share"]["revoke_url"])
    assert response.status_code == 302 and response["Location"] == "/shares/"


def test_deleting_the_conversation_deletes_its_links(alice, bob, research):
    chat = conversation(alice)
    link = share(alice, chat)
    logged_in_client(alice).post(f"/c/{chat.code}/delete/")
    assert logged_in_client(bob).get(path_of(link)).status_code == 404


def test_a_teammate_continues_it_as_their_own_copy(alice, bob, research):
    chat = conversation(alice)
    link = share(alice, chat)
    response = logged_in_client(bob).post(path_of(link) + "copy/")
    copy = Conversation.objects.get(owner=bob)
    assert response.status_code == 302 and response["Location"] == f"/c/{copy.code}/"
    assert copy.title == chat.title and copy.system_prompt == chat.system_prompt
    mine = [(m.role, m.text, m.reasoning, m.tool_calls) for m in copy.messages.order_by("pk")]
    theirs = [(m.role, m.text, m.reasoning, m.tool_calls) for m in chat.messages.order_by("pk")]
    assert mine == theirs
    image = copy.messages.order_by("pk").first().attachments.get(kind="image")
    original = Attachment.objects.get(original_name="図.png", owner=alice)
    assert image.owner == bob and image.file.name != original.file.name
    assert logged_in_client(bob).get(f"/media/attachments/{image.code}").status_code == 200
    # Alice's own conversation is untouched, and bob's copy is his alone.
    assert Conversation.objects.filter(owner=alice).count() == 1
    assert logged_in_client(alice).get(f"/c/{copy.code}/").status_code == 404


def test_a_teammate_sees_the_shared_files_and_no_other_file_of_the_sharer(alice, bob, charlie, research):
    chat = conversation(alice)
    link = share(alice, chat)
    other = conversation(alice, "Not shared", image=False)
    private = attach(other.messages.first(), png_bytes(), "private.png")
    [image, text] = shown_messages(logged_in_client(bob).get(path_of(link)))[0]["attachments"]
    assert logged_in_client(bob).get(image["url"]).status_code == 200
    assert logged_in_client(bob).get(text["url"])["Content-Disposition"].startswith("attachment")
    assert logged_in_client(bob).get(f"{path_of(link)}files/{private.code}").status_code == 404
    assert logged_in_client(charlie).get(image["url"]).status_code == 403
