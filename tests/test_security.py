"""Security: one test (or more) per point of the issue's Security section."""

import asyncio
import io
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from PIL import Image

from chatsite.accounts.firstrun import setup_code
from chatsite.chat.models import Attachment, Conversation, Message
from tests.conftest import SECRET, frames_until, is_done, logged_in_client, open_socket

ROOT = Path(__file__).resolve().parent.parent


def png_bytes(size=(8, 8), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def upload(client: Client, data: bytes, name: str = "picture.png", content_type: str = "image/png"):
    # A stored upload needs django_db(transaction=True): see tests/test_files.py's upload.
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/uploads/", {"file": SimpleUploadedFile(name, data, content_type=content_type)})


# -- login required everywhere ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", f"/c/{uuid.uuid4()}/", f"/media/attachments/{uuid.uuid4()}", "/admin/"])
def test_pages_and_media_require_login(alice, path):
    response = Client().get(path, follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert b"Log in" in response.content


@pytest.mark.django_db
def test_json_endpoints_require_login(alice):
    client = Client()
    for path in ["/c/new/", "/uploads/", f"/c/{uuid.uuid4()}/rename/"]:
        response = client.post(path, "{}", content_type="application/json")
        assert response.status_code == 302


@pytest.mark.django_db(transaction=True)
async def test_websocket_requires_login(alice):
    socket = await open_socket(None)
    assert not socket.accepted


# -- other users' things are 404, like things that do not exist ------------------------------


@pytest.fixture
def alices(alice, model):
    conversation = Conversation.objects.create(owner=alice, model=model, title="Alice's secret plan")
    question = Message.objects.create(conversation=conversation, role="user", text="secret question")
    Message.objects.create(conversation=conversation, role="assistant", text="secret answer")
    attachment = Attachment.objects.create(
        owner=alice, message=question, content_type="image/png", width=8, height=8, size_bytes=10
    )
    attachment.file.save("x", io.BytesIO(png_bytes()))
    return conversation, question, attachment


@pytest.mark.django_db
def test_other_users_conversation_is_404_like_a_missing_one(alices, charlie):
    conversation, _, attachment = alices
    client = logged_in_client(charlie)
    for code in [conversation.code, uuid.uuid4()]:
        assert client.get(f"/c/{code}/").status_code == 404
        for action in ["rename", "delete", "model", "options"]:
            response = client.post(f"/c/{code}/{action}/", '{"title": "mine"}', content_type="application/json")
            assert response.status_code == 404
    for code in [attachment.code, uuid.uuid4()]:
        assert client.get(f"/media/attachments/{code}").status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == "Alice's secret plan"
    page = client.get("/").content.decode()
    assert "secret" not in page


@pytest.mark.django_db
def test_owner_sees_her_conversation_and_image(alices, alice):
    conversation, _, attachment = alices
    client = logged_in_client(alice)
    page = client.get(f"/c/{conversation.code}/")
    assert page.status_code == 200
    assert "secret answer" in page.content.decode()
    image = client.get(f"/media/attachments/{attachment.code}")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("frame_type", ["subscribe", "send", "stop", "regenerate", "edit", "resync"])
async def test_other_users_conversation_over_websocket_is_not_found(alices, charlie, upstream, frame_type):
    conversation, question, _ = alices
    socket = await open_socket(charlie)
    answers = []
    for code in [str(conversation.code), str(uuid.uuid4()), "not-a-uuid"]:
        frame = {"type": frame_type, "conversation": code, "text": "hijack", "message": str(question.code)}
        await socket.send_json_to(frame)
        answers.append((await socket.receive_json_from(timeout=2))["error"])
    assert answers == ["Conversation not found."] * 3
    assert await socket.receive_nothing(timeout=0.2)
    assert await Message.objects.filter(conversation=conversation).acount() == 2
    assert upstream.requests == []
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_subscriber_of_another_conversation_receives_nothing_of_alices(alices, alice, charlie, model, upstream):
    conversation, _, _ = alices
    own = await Conversation.objects.acreate(owner=charlie, model=model)
    spy = await open_socket(charlie)
    await spy.send_json_to({"type": "subscribe", "conversation": str(own.code)})
    owner = await open_socket(alice)
    await owner.send_json_to({"type": "send", "conversation": str(conversation.code), "text": "private"})
    await frames_until(owner, is_done)
    assert await spy.receive_nothing(timeout=0.3)
    await spy.disconnect()
    await owner.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_someone_elses_attachment_cannot_be_sent(alices, charlie, model, upstream):
    _, _, attachment = alices
    await Attachment.objects.filter(pk=attachment.pk).aupdate(message=None)
    own = await Conversation.objects.acreate(owner=charlie, model=model)
    socket = await open_socket(charlie)
    await socket.send_json_to(
        {"type": "send", "conversation": str(own.code), "text": "look", "attachments": [str(attachment.code)]}
    )
    frame = await socket.receive_json_from(timeout=2)
    assert frame["type"] == "error"
    assert "not found" in frame["error"]
    assert upstream.requests == []
    await socket.disconnect()


# -- websocket origins -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://127.0.0.1:8000",  # other scheme
        "http://127.0.0.1:9999",  # other port
        "http://127.0.0.1",  # default port is another port
        "http://localhost:8000",  # an allowed host, but not this site's origin
        "null",
        "",
    ],
)
async def test_websocket_from_another_origin_is_refused(alice, origin):
    socket = await open_socket(alice, origin=origin)
    assert not socket.accepted


@pytest.mark.django_db(transaction=True)
async def test_websocket_from_the_sites_own_origin_is_accepted(alice):
    socket = await open_socket(alice, origin="http://127.0.0.1:8000")
    assert socket.accepted
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_websocket_to_a_host_that_is_not_allowed_is_refused(alice):
    socket = await open_socket(alice, origin="http://evil.example:8000", host="evil.example:8000")
    assert not socket.accepted


@pytest.mark.django_db(transaction=True)
async def test_trusted_origin_behind_a_proxy_is_accepted(alice, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com"]
    socket = await open_socket(alice, origin="https://chat.example.com", host="127.0.0.1:8000")
    assert socket.accepted
    await socket.disconnect()


# -- logout and deactivation close sockets ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_logging_out_closes_that_sessions_sockets(alice):
    client = await sync_to_async(logged_in_client)(alice)
    cookie = client.cookies["sessionid"].value
    socket = await open_socket(cookie=cookie)
    other_session = await open_socket(alice)
    assert socket.accepted and other_session.accepted
    await sync_to_async(client.post)("/accounts/logout/")
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}
    assert await other_session.receive_nothing(timeout=0.2)
    await other_session.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_deactivating_a_user_closes_their_sockets(alice):
    socket = await open_socket(alice)
    alice.is_active = False
    await alice.asave()
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


# -- only allow-listed parameters reach the provider -----------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "parameters",
    [{"temperature": 5}, {"top_p": -1}, {"max_tokens": 1.5}, {"api_key": "x"}, {"base_url": "http://evil"}, "hot"],
)
def test_out_of_range_or_unknown_parameters_are_refused(alices, alice, parameters):
    conversation, _, _ = alices
    client = logged_in_client(alice)
    response = client.post(
        f"/c/{conversation.code}/options/", {"parameters": parameters}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]
    conversation.refresh_from_db()
    assert conversation.parameters == {}


@pytest.mark.django_db(transaction=True)
async def test_browser_cannot_pick_the_url_key_or_a_hidden_model(alice, model, provider, upstream):
    hidden = await provider.models.acreate(name="test/secret-model", hidden=True)
    conversation = await Conversation.objects.acreate(owner=alice, model=model)
    socket = await open_socket(alice)
    code = str(conversation.code)
    await socket.send_json_to({"type": "send", "conversation": code, "text": "x", "model": str(hidden.code)})
    assert (await socket.receive_json_from(timeout=2))["error"] == "That model is not available."
    await socket.send_json_to(
        {"type": "send", "conversation": code, "text": "x", "base_url": "http://evil", "api_key": "k", "max_tokens": 7}
    )
    await frames_until(socket, is_done)
    sent = upstream.requests[-1]
    assert sent["json"]["model"] == "test/model-a"
    assert "max_tokens" not in sent["json"]
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"
    await socket.disconnect()


# -- images: only our own, as data: URLs; uploads checked before work ------------------------


@pytest.mark.django_db(transaction=True)
async def test_images_go_upstream_as_data_urls_of_the_users_own_upload(alice, model, upstream):
    client = await sync_to_async(logged_in_client)(alice)
    response = await sync_to_async(upload)(client, png_bytes())
    assert response.status_code == 201
    attachment_id = response.json()["id"]
    conversation = await Conversation.objects.acreate(owner=alice, model=model)
    socket = await open_socket(alice)
    await socket.send_json_to(
        {
            "type": "send",
            "conversation": str(conversation.code),
            "text": "What is this?",
            "attachments": [attachment_id],
        }
    )
    frames = await frames_until(socket, is_done)
    user_message = next(f["message"] for f in frames if f["type"] == "message")
    assert [a["id"] for a in user_message["attachments"]] == [attachment_id]
    content = upstream.requests[-1]["json"]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    await socket.disconnect()


@pytest.mark.django_db
def test_oversized_upload_is_refused(alice, settings):
    settings.CHAT_MAX_UPLOAD_BYTES = 1000
    response = upload(logged_in_client(alice), png_bytes((300, 300)) + b"\0" * 2000)
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]
    assert not Attachment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"<html><script>alert(1)</script></html>", "page.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image.svg"),
        (b"GIF89a" + b"\0" * 20, "broken.gif"),
        (png_bytes()[:40], "truncated.png"),
    ],
)
def test_files_that_are_not_valid_images_are_refused(alice, data, name):
    response = upload(logged_in_client(alice), data, name)
    assert response.status_code in (400, 415)
    assert response.json()["error"]
    assert not Attachment.objects.exists()


@pytest.mark.django_db
def test_decompression_bomb_is_refused_before_decoding(alice):
    # 20000x20000 of one colour compresses to a few hundred KB but would decode to 1.2 GB.
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, "PNG")
    response = upload(logged_in_client(alice), buffer.getvalue())
    assert response.status_code == 400
    assert "pixels" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_html_image_polyglot_is_stored_reencoded_without_the_html(alice):
    polyglot = png_bytes() + b"<html><script>alert(document.cookie)</script></html>"
    client = logged_in_client(alice)
    response = upload(client, polyglot, "poly.html")
    assert response.status_code == 201
    served = client.get(response.json()["url"])
    body = b"".join(served.streaming_content)
    assert b"<script>" not in body
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(body)).size == (8, 8)


# -- rendering is inert ----------------------------------------------------------------------

XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.mark.django_db
def test_titles_and_texts_are_escaped_in_the_chat_page_and_admin(alice, model, django_user_model):
    conversation = Conversation.objects.create(owner=alice, model=model, title=XSS)
    Message.objects.create(conversation=conversation, role="assistant", text=XSS, error=XSS)
    page = logged_in_client(alice).get(f"/c/{conversation.code}/").content.decode()
    assert "<script>alert(2)" not in page
    assert '<img src=x onerror="alert(1)">' not in page
    admin_user = django_user_model.objects.create_superuser("root", password="root-password-123")
    admin_page = logged_in_client(admin_user).get(f"/admin/chat/conversation/{conversation.pk}/change/")
    assert admin_page.status_code == 200
    assert "<script>alert(2)" not in admin_page.content.decode()


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(alice):
    response = logged_in_client(alice).get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "img-src 'self' blob: data:" in csp
    assert "connect-src 'self'" in csp
    assert "default-src 'self'" in csp


# -- first run, login rate limit, the provider key -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_first_run_form_creates_exactly_one_admin_when_submitted_at_once():
    def submit(i):
        client = Client()
        client.post(
            "/accounts/setup/",
            {
                "setup_code": setup_code(),
                "username": f"admin{i}",
                "password1": "a-long-password-1",
                "password2": "a-long-password-1",
            },
        )
        connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    users = get_user_model().objects.all()
    assert users.count() == 1
    assert users.get().is_superuser
    assert Client().get("/accounts/setup/").status_code == 302


@pytest.mark.django_db
def test_first_visitor_is_sent_to_the_first_run_form():
    response = Client().get("/accounts/login/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/setup/"


@pytest.mark.django_db
def test_login_is_rate_limited(alice, settings):
    client = Client()
    for _ in range(settings.LOGIN_RATE_LIMIT):
        assert client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-123"})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()


@pytest.mark.django_db
def test_correct_login_works(alice):
    client = Client()
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-123"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_admin_login_goes_through_the_rate_limited_login(alice):
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_provider_key_is_write_only_in_the_admin(provider, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", password="root-password-123")
    client = logged_in_client(admin_user)
    for path in ["/admin/providers/provider/", f"/admin/providers/provider/{provider.pk}/change/"]:
        page = client.get(path).content.decode()
        assert SECRET not in page
    form = {
        "name": provider.name,
        "base_url": provider.base_url,
        "api_key": "",
        "enabled": "on",
        "extra_body": "{}",
        "models-TOTAL_FORMS": "0",
        "models-INITIAL_FORMS": "0",
    }
    assert client.post(f"/admin/providers/provider/{provider.pk}/change/", form).status_code == 302
    provider.refresh_from_db()
    assert provider.api_key == SECRET  # an empty field keeps the key


@pytest.mark.django_db
def test_pages_never_contain_the_key(alices, alice, provider):
    conversation, _, _ = alices
    page = logged_in_client(alice).get(f"/c/{conversation.code}/").content.decode()
    assert SECRET not in page
    assert provider.base_url not in page


# -- deploy checks ---------------------------------------------------------------------------


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "0",
        "HTTPS": "1",
        "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-" + "y" * 20,
        "ALLOWED_HOSTS": "chat.example.com",
        "EMAIL_HOST": "smtp.example.com",
        "DATA_DIR": str(tmp_path),
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_every_setting_read_from_the_environment_is_in_the_readme():
    import re

    # settings.py, and the sign-in settings it has chatsite/sso/config.py read.
    source = (ROOT / "chatsite" / "settings.py").read_text() + (ROOT / "chatsite" / "sso" / "config.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|float|list)\("([A-Z_]+)"', source))
    from chatsite.sso.config import OIDC_VARIABLES

    names |= {f"OIDC_<NAME>_{suffix}" for suffix in OIDC_VARIABLES}
    readme = (ROOT / "README.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert names and not missing, f"settings missing from the README table: {missing}"


@pytest.mark.django_db(transaction=True)
async def test_stopping_from_another_tab_works_but_not_from_another_user(alice, charlie, model, upstream):
    upstream.script(tokens=["tok "] * 100, delay=0.02)
    conversation = await Conversation.objects.acreate(owner=alice, model=model)
    code = str(conversation.code)
    owner = await open_socket(alice)
    await owner.send_json_to({"type": "send", "conversation": code, "text": "go"})
    await frames_until(owner, lambda f: f["type"] == "delta")
    intruder = await open_socket(charlie)
    await intruder.send_json_to({"type": "stop", "conversation": code})
    assert (await intruder.receive_json_from(timeout=2))["error"] == "Conversation not found."
    await asyncio.sleep(0.1)
    assert await Message.objects.filter(conversation=conversation, status="streaming").aexists()
    other_tab = await open_socket(alice)
    await other_tab.send_json_to({"type": "stop", "conversation": code})
    frames = await frames_until(owner, is_done)
    assert frames[-1]["message"]["status"] == "stopped"
    for socket in (owner, intruder, other_tab):
        await socket.disconnect()
