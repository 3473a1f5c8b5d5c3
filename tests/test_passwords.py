"""Passwords: members change their own, and reset a forgotten one by mail, without the reset
telling anyone which addresses have accounts; the mail settings, and the SMTP password kept
out of every log.

Through the real views with Django's test Client. The SMTP servers here are real loopback
sockets speaking as much SMTP as each test needs (one that never answers, one that refuses
the login)."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import logged_in_client
from tests.mailbox import link_in, wait_for_mail
from tests.test_signup import text_of

ROOT = Path(__file__).resolve().parent.parent
NEW = "a-brand-new-password-7"
SMTP_SECRET = "smtp-secret-do-not-log-4711"


def logs_in(username: str, password: str) -> bool:
    return Client().post("/accounts/login/", {"username": username, "password": password}).status_code == 302


# -- changing one's own password -------------------------------------------------------------


@pytest.mark.django_db
def test_a_member_changes_their_password_with_the_old_one_and_djangos_validators(alice):
    client = logged_in_client(alice)
    page = client.get("/accounts/password/")
    assert page.status_code == 200 and 'class="auth-card"' in page.text and "chat.css" in page.text
    wrong = client.post("/accounts/password/", {"old_password": "not-it", "new_password1": NEW, "new_password2": NEW})
    assert "Your old password was entered incorrectly" in text_of(wrong)
    weak = client.post(
        "/accounts/password/",
        {"old_password": "alice-password-123", "new_password1": "123", "new_password2": "123"},
    )
    assert "This password is too short" in text_of(weak)
    done = client.post(
        "/accounts/password/", {"old_password": "alice-password-123", "new_password1": NEW, "new_password2": NEW}
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/password/changed/"
    assert client.get("/").status_code == 200, "still logged in here"
    assert logs_in("alice", NEW) and not logs_in("alice", "alice-password-123")


@pytest.mark.django_db
def test_changing_a_password_needs_a_login(alice):
    response = Client().get("/accounts/password/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# -- resetting a forgotten one ---------------------------------------------------------------


@pytest.fixture
def alice_with_email(alice):
    alice.email = "alice@example.com"
    alice.save()
    return alice


@pytest.mark.django_db
def test_a_forgotten_password_is_reset_with_the_mailed_link(alice_with_email):
    client = Client()
    assert 'href="/accounts/password/reset/"' in client.get("/accounts/login/").text
    response = client.post("/accounts/password/reset/", {"email": "ALICE@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    [message] = wait_for_mail(1)
    assert message.to == ["alice@example.com"] and message.subject == "Set a new chatsite password"
    link = link_in(message)
    set_form = client.get(link, follow=True)
    assert "Set a new password" in set_form.text and 'name="new_password1"' in set_form.text
    done = client.post(set_form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/accounts/password/reset/done/"
    assert logs_in("alice", NEW)
    assert "This link does not work" in text_of(Client().get(link, follow=True)), "used once"


@pytest.mark.django_db
def test_the_reset_answers_the_same_whether_or_not_an_account_has_the_address(alice_with_email):
    answers = []
    for email in ("alice@example.com", "nobody@example.com"):
        response = Client().post("/accounts/password/reset/", {"email": email}, follow=True)
        answers.append((response.redirect_chain, response.status_code, text_of(response)))
    assert answers[0] == answers[1]
    assert wait_for_mail(1)[0].to == ["alice@example.com"]


@pytest.fixture
def silent_smtp():
    """A loopback SMTP server that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve():
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()
    for connection in accepted:
        connection.close()


def smtp(settings, port: int, **options) -> None:
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 10, **options},
        }
    }


@pytest.mark.django_db
def test_the_reset_page_does_not_wait_for_the_mail_server(alice_with_email, silent_smtp, settings):
    """A page that waited for SMTP only when an account has the address would tell by its time
    which addresses have accounts."""
    port, accepted = silent_smtp
    smtp(settings, port)
    response = Client().post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response.status_code == 302
    # The page answered while the mail was still being sent: the server holds the mail's
    # connection, unanswered and open.
    for _ in range(500):
        if accepted:
            break
        threading.Event().wait(0.01)
    assert accepted, "the mail was sent"
    accepted[0].setblocking(False)
    with pytest.raises(BlockingIOError):
        accepted[0].recv(1)  # nothing sent by the client yet, and not closed (b"")


@pytest.mark.django_db
def test_the_reset_form_is_guarded_by_the_login_rate_limit(alice_with_email, settings):
    client = Client()
    for _ in range(settings.LOGIN_RATE_LIMIT):
        assert client.post("/accounts/password/reset/", {"email": "alice@example.com"}).status_code == 302
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response.status_code == 429
    assert "Too many tries from your address" in text_of(response)
    assert len(wait_for_mail(settings.LOGIN_RATE_LIMIT)) == settings.LOGIN_RATE_LIMIT


# -- the mail settings -----------------------------------------------------------------------


def mailer_in_a_process(env: dict, tmp_path) -> dict:
    code = "from django.conf import settings; import json; print(json.dumps(settings.MAILERS['default']))"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "chatsite.settings", "DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_mail_goes_to_the_console_until_an_smtp_host_is_set(tmp_path):
    assert mailer_in_a_process({}, tmp_path) == {
        "BACKEND": "django.core.mail.backends.console.EmailBackend",
        "OPTIONS": {},
    }
    smtp = mailer_in_a_process(
        {
            "EMAIL_HOST": "smtp.example.com",
            "EMAIL_PORT": "2525",
            "EMAIL_HOST_USER": "chatsite",
            "EMAIL_HOST_PASSWORD": SMTP_SECRET,
            "EMAIL_USE_TLS": "0",
        },
        tmp_path,
    )
    assert smtp["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert {k: smtp["OPTIONS"][k] for k in ("host", "port", "username", "password", "use_tls")} == {
        "host": "smtp.example.com",
        "port": 2525,
        "username": "chatsite",
        "password": SMTP_SECRET,
        "use_tls": False,
    }


@pytest.fixture
def refusing_smtp():
    """A loopback SMTP server that offers AUTH PLAIN and refuses every login; it records what
    it was sent."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve():
        with contextlib.suppress(OSError):
            while True:
                connection = server.accept()[0]
                with connection, connection.makefile("rwb") as stream:
                    stream.write(b"220 loopback ESMTP\r\n")
                    stream.flush()
                    for line in stream:
                        received.append(line)
                        verb = line[:4].upper()
                        if verb in (b"EHLO", b"HELO"):
                            stream.write(b"250-loopback\r\n250 AUTH PLAIN\r\n")
                        elif verb == b"AUTH":
                            stream.write(b"535 5.7.8 Authentication credentials invalid\r\n")
                        elif verb == b"QUIT":
                            stream.write(b"221 bye\r\n")
                            stream.flush()
                            break
                        else:
                            stream.write(b"250 ok\r\n")
                        stream.flush()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], received
    server.close()


@pytest.mark.django_db
def test_the_smtp_password_goes_to_the_mail_server_and_into_no_log(alice_with_email, refusing_smtp, settings, caplog):
    port, received = refusing_smtp
    smtp(settings, port, username="chatsite", password=SMTP_SECRET)
    caplog.set_level(logging.DEBUG)
    assert Client().post("/accounts/password/reset/", {"email": "alice@example.com"}).status_code == 302
    for _ in range(500):
        if "Could not send the password reset mail" in caplog.text:
            break
        threading.Event().wait(0.01)
    assert "Could not send the password reset mail" in caplog.text
    assert "SMTPAuthenticationError" in caplog.text
    sent = b"".join(received)
    assert base64.b64encode(f"\0chatsite\0{SMTP_SECRET}".encode()) in sent, "the password reached the server"
    encoded = base64.b64encode(f"\0chatsite\0{SMTP_SECRET}".encode()).decode()
    assert SMTP_SECRET not in caplog.text and encoded not in caplog.text
