"""Deactivating a user in the admin refuses them at once everywhere and keeps their history.

The admin's own user form, posted as a browser posts it (tests/test_admin_security.py's
form_of), on the real ASGI application: the user's session cookie on the chat pages, the
upload endpoint and the websocket. (database_sync_to_async: it closes the thread's database
connection after each call, which PostgreSQL needs to drop the test database.)"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chatsite.chat.models import Conversation, Message
from tests.conftest import logged_in_client, open_socket
from tests.samples import png_bytes
from tests.test_admin_security import form_of, log_in_admin
from tests.test_signup import login_page_error

LOGIN_CLOSED = {"type": "websocket.close", "code": 4401}


def deactivate_in_the_admin(admin_user, user) -> None:
    admin = log_in_admin(admin_user)
    url = f"/admin/accounts/user/{user.pk}/change/"
    form = form_of(admin, url, "user_form")
    assert form.pop("is_active") == ["on"]
    response = admin.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]


def upload(client: Client):
    return client.post("/uploads/", {"file": SimpleUploadedFile("p.png", png_bytes(), content_type="image/png")})


@pytest.mark.django_db(transaction=True)
async def test_a_deactivated_user_is_refused_at_once_everywhere_and_keeps_their_conversations(
    admin_user, alice, bob, model
):
    conversation = await Conversation.objects.acreate(owner=alice, model=model, title="Alice's notes")
    await Message.objects.acreate(conversation=conversation, role="user", text="remember this")
    await Message.objects.acreate(conversation=conversation, role="assistant", text="noted")
    client = await database_sync_to_async(logged_in_client)(alice)
    cookie = client.cookies["sessionid"].value
    pages = ["/", f"/c/{conversation.code}/"]
    for path in pages:
        assert (await database_sync_to_async(client.get)(path)).status_code == 200
    assert (await database_sync_to_async(upload)(client)).status_code == 201
    alices, bobs = await open_socket(cookie=cookie), await open_socket(bob)
    assert alices.accepted and bobs.accepted

    await database_sync_to_async(deactivate_in_the_admin)(admin_user, alice)

    assert await alices.receive_output(timeout=2) == LOGIN_CLOSED
    for path in pages:
        response = await database_sync_to_async(client.get)(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    refused = await database_sync_to_async(upload)(client)
    assert refused.status_code == 302 and refused["Location"].startswith("/accounts/login/")
    again = await open_socket(cookie=cookie)
    assert not again.accepted
    told = await database_sync_to_async(login_page_error)("alice", "alice-password-123")
    assert "This account is deactivated" in told
    assert await bobs.receive_nothing(timeout=0.2)
    await bobs.disconnect()

    # Her history is kept, and admins still see it.
    assert await Message.objects.filter(conversation__owner=alice).acount() == 2
    admin = await database_sync_to_async(log_in_admin)(admin_user)
    listed = await database_sync_to_async(admin.get)(f"/admin/chat/conversation/?owner__id__exact={alice.pk}")
    assert "Alice&#x27;s notes" in listed.content.decode()
