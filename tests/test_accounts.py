"""Many users on one site: failed logins counted per (address, username), client addresses
behind proxies, and websockets closed when a session ends however it ends."""

from __future__ import annotations

import base64
import os
import re
import socket

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client

from chatsite.lib.addresses import client_address
from tests.conftest import logged_in_client, open_socket
from tests.server import PASSWORDS, ChatServer
from tests.test_server import read_head, status_of

OFFICE = "192.0.2.10"  # everyone behind the office's NAT
PROXY = "10.0.0.1"

LOGIN_CLOSED = {"type": "websocket.close", "code": 4401}


def log_in(address: str, username: str, password: str, **headers) -> int:
    """The status of one login form post from address (the peer the server sees)."""
    response = Client(REMOTE_ADDR=address, **headers).post(
        "/accounts/login/", {"username": username, "password": password}
    )
    return response.status_code


def password(user) -> str:
    return f"{user.username}-password-123"


# -- the login rate limit --------------------------------------------------------------------


@pytest.mark.django_db
def test_bobs_wrong_passwords_do_not_lock_alice_out_from_the_same_address(alice, bob, settings):
    for _ in range(settings.LOGIN_RATE_LIMIT):
        assert log_in(OFFICE, "bob", "wrong") == 200
    assert log_in(OFFICE, "bob", password(bob)) == 429  # bob's name is locked from there
    assert log_in(OFFICE, "alice", password(alice)) == 302


@pytest.mark.django_db
def test_charlie_cannot_lock_alices_account_from_other_addresses(alice, charlie, settings):
    for i in range(5):
        for _ in range(settings.LOGIN_RATE_LIMIT):
            assert log_in(f"198.51.100.{i}", "alice", "guess") == 200
        assert log_in(f"198.51.100.{i}", "alice", "guess") == 429
    assert log_in(OFFICE, "alice", password(alice)) == 302


@pytest.mark.django_db
def test_spraying_one_password_over_many_usernames_trips_the_address_bound(alice, settings):
    settings.LOGIN_RATE_LIMIT_ADDRESS = 3 * settings.LOGIN_RATE_LIMIT
    for i in range(settings.LOGIN_RATE_LIMIT_ADDRESS):
        assert log_in(OFFICE, f"user{i}", "Winter2026!") == 200
    response = Client(REMOTE_ADDR=OFFICE).post("/accounts/login/", {"username": "alice", "password": password(alice)})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert log_in("192.0.2.11", "alice", password(alice)) == 302


@pytest.mark.django_db
def test_forged_x_forwarded_for_entries_do_not_escape_the_limit_behind_a_proxy(alice, settings):
    settings.TRUSTED_PROXIES = 1
    for i in range(settings.LOGIN_RATE_LIMIT):
        forged = f"203.0.113.{i}, 198.51.100.7"
        assert log_in(PROXY, "alice", "guess", HTTP_X_FORWARDED_FOR=forged) == 200
    assert log_in(PROXY, "alice", "guess", HTTP_X_FORWARDED_FOR="203.0.113.99, 198.51.100.7") == 429
    # Alice comes through the same proxy from her own address.
    assert log_in(PROXY, "alice", password(alice), HTTP_X_FORWARDED_FOR="198.51.100.8") == 302


# -- client addresses behind proxies ---------------------------------------------------------

CASES = [
    # trusted proxies, the peer, X-Forwarded-For, the client
    (0, "198.51.100.7", None, "198.51.100.7"),
    (0, "198.51.100.7", "203.0.113.5", "198.51.100.7"),  # no proxy: the header is the client's own
    (1, PROXY, None, PROXY),
    (1, PROXY, "198.51.100.7", "198.51.100.7"),
    (1, PROXY, "203.0.113.5, 198.51.100.7", "198.51.100.7"),  # forged leftmost entry
    (1, PROXY, "203.0.113.5,203.0.113.6 ,  198.51.100.7", "198.51.100.7"),
    (2, PROXY, "198.51.100.7, 10.0.0.2", "198.51.100.7"),
    (2, PROXY, "203.0.113.5, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
    (2, PROXY, "2001:db8::1, 10.0.0.2", "2001:db8::1"),
    (2, PROXY, "198.51.100.7", "198.51.100.7"),  # one hop fewer than proxies: all entries are ours
]


@pytest.mark.parametrize(("trusted", "peer", "forwarded", "expected"), CASES)
def test_the_client_is_the_rightmost_x_forwarded_for_entry_no_trusted_proxy_wrote(
    trusted, peer, forwarded, expected, settings
):
    settings.TRUSTED_PROXIES = trusted
    meta = {"REMOTE_ADDR": peer}
    headers = [(b"host", b"chat.example.com")]
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
        headers.append((b"x-forwarded-for", forwarded.encode()))
    assert client_address(meta) == expected
    scope = {"type": "websocket", "client": (peer, 51000), "headers": headers}
    assert client_address(scope) == expected


def test_repeated_x_forwarded_for_headers_are_one_list(settings):
    settings.TRUSTED_PROXIES = 2
    headers = [(b"x-forwarded-for", b"203.0.113.5, 198.51.100.7"), (b"x-forwarded-for", b"10.0.0.2")]
    assert client_address({"type": "http", "client": (PROXY, 1), "headers": headers}) == "198.51.100.7"


def test_a_request_without_a_peer_address_has_one_address_for_all():
    assert client_address({}, trusted_proxies=0) == "unknown"
    assert client_address({"type": "http", "client": None, "headers": []}, trusted_proxies=1) == "unknown"


def _login_form(client: httpx.Client) -> str:
    page = client.get("/accounts/login/")
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def test_serve_with_proxy_headers_lets_no_client_pick_its_address_and_keeps_x_forwarded_proto(upstream):
    """daphne's --proxy-headers would take the leftmost X-Forwarded-For entry as the client: a
    client sending a new one with every guess would never be limited."""
    with ChatServer(upstream.base_url, upstream, serve_args=("--proxy-headers",)) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            token = _login_form(client)
            statuses = [
                client.post(
                    "/accounts/login/",
                    data={"username": "alice", "password": "guess", "csrfmiddlewaretoken": token},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"},
                ).status_code
                for i in range(11)
            ]
            assert statuses == [200] * 10 + [429]
            # Bob, from the same address, is not locked out by those guesses.
            answer = client.post(
                "/accounts/login/",
                data={"username": "bob", "password": PASSWORDS["bob"], "csrfmiddlewaretoken": token},
                headers={"X-Forwarded-For": "203.0.113.200"},
            )
            assert answer.status_code == 302
            cookie = client.cookies["sessionid"]
        # X-Forwarded-Proto still tells the app the page was https: the websocket takes the
        # https origin then, and refuses the http one.
        secure = upgrade_behind_proxy(server, f"https://127.0.0.1:{server.port}", cookie)
        assert status_of(secure) == 101, secure
        assert status_of(upgrade_behind_proxy(server, server.url, cookie)) == 403


def upgrade_behind_proxy(server: ChatServer, origin: str, cookie: str) -> bytes:
    """A websocket handshake as a TLS-terminating proxy passes it on; returns the response head."""
    lines = [
        "GET /ws/chat/ HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
        f"Origin: {origin}",
        f"Cookie: sessionid={cookie}",
        "X-Forwarded-Proto: https",
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return read_head(sock)


# -- sockets close when a session ends -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_changing_a_password_closes_the_users_sockets_and_no_one_elses(alice, bob):
    bobs, alices = await open_socket(bob), await open_socket(alice)
    assert bobs.accepted and alices.accepted
    bob.set_password("a-new-password-456")
    await bob.asave()
    assert await bobs.receive_output(timeout=2) == LOGIN_CLOSED
    assert await alices.receive_nothing(timeout=0.2)
    await alices.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_password_changed_in_the_admin_closes_the_users_sockets(alice, bob, django_user_model):
    root = await django_user_model.objects.acreate_superuser("root", password="root-password-123")
    bobs, alices = await open_socket(bob), await open_socket(alice)
    admin = await sync_to_async(logged_in_client)(root)
    response = await sync_to_async(admin.post)(
        f"/admin/accounts/user/{bob.pk}/password/",
        {"password1": "a-new-password-456", "password2": "a-new-password-456", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert await bobs.receive_output(timeout=2) == LOGIN_CLOSED
    assert await alices.receive_nothing(timeout=0.2)
    await alices.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_deleting_sessions_one_by_one_or_by_a_queryset_closes_their_sockets(alice, bob):
    keys = [(await sync_to_async(logged_in_client)(bob)).cookies["sessionid"].value for _ in range(2)]
    bob_one, bob_two = [await open_socket(cookie=key) for key in keys]
    alices = await open_socket(alice)
    assert bob_one.accepted and bob_two.accepted and alices.accepted

    await (await Session.objects.aget(session_key=keys[0])).adelete()
    assert await bob_one.receive_output(timeout=2) == LOGIN_CLOSED
    assert await bob_two.receive_nothing(timeout=0.2)

    await sync_to_async(Session.objects.filter(session_key__in=keys).delete)()
    assert await bob_two.receive_output(timeout=2) == LOGIN_CLOSED
    assert await alices.receive_nothing(timeout=0.2)
    await alices.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_deleting_a_user_closes_their_sockets(alice, bob):
    bobs, alices = await open_socket(bob), await open_socket(alice)
    await bob.adelete()
    assert await bobs.receive_output(timeout=2) == LOGIN_CLOSED
    assert await alices.receive_nothing(timeout=0.2)
    await alices.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_old_password_hash_upgraded_at_login_is_no_password_change(alice, settings):
    """check_password() saves the password under a newer hasher: her sockets stay open."""
    socket = await open_socket(alice)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.ScryptPasswordHasher", *settings.PASSWORD_HASHERS]
    assert await sync_to_async(log_in)(OFFICE, "alice", password(alice)) == 302
    await alice.arefresh_from_db()
    assert alice.password.startswith("scrypt$")
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()
