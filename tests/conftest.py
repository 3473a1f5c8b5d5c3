"""Shared fixtures: users alice, bob and charlie, the loopback upstream, and websocket clients
that log in with a real session cookie."""

import asyncio
import inspect
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import connections
from django.test import Client

from chatsite.providers.models import LanguageModel, Provider
from tests.browser import alice_state, browser, context, page, watch  # noqa: F401 - fixtures for every module
from tests.server import ChatServer
from tests.upstream import Upstream

ORIGIN = "http://127.0.0.1:8000"
SECRET = "sk-test-secret-key-do-not-leak"


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The manifest is built by collectstatic; tests render templates without needing it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.STREAM_FLUSH_SECONDS = 0.05
    # Hashing is not under test here, and PBKDF2 would make every login take a quarter second.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PROVIDER_IDLE_TIMEOUT = 5
    cache.clear()  # login rate-limit counters
    # Each test runs on its own event loop; a channel layer (channels_redis above all) keeps
    # connections and locks bound to the loop that first used it, so start each test afresh.
    channel_layers.backends.clear()
    # Close the database thread's connection after each use, so none outlives the test
    # database (PostgreSQL refuses to drop a database that has sessions).
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _async_cleanup(request):
    # Only async tests: an async fixture would wrap sync ones (Playwright's) in an event loop.
    if inspect.iscoroutinefunction(request.function):
        request.getfixturevalue("_close_provider_session")


@pytest.fixture
async def _close_provider_session():
    """The runtime (its pooled provider session, flusher and reaper) belongs to the test's event
    loop: close it there."""
    yield
    from chatsite.chat import runtime

    test_runtime = runtime._runtimes.pop(asyncio.get_running_loop(), None)
    if test_runtime is not None:
        await test_runtime.close()


@pytest.fixture(scope="session")
def _upstream_server():
    with Upstream() as server:
        yield server


@pytest.fixture(scope="session")
def chat_server(request) -> ChatServer:
    """One server (`manage.py serve`, as `./dev serve` runs it) and its own upstream for the
    whole session, started by the first test that needs it."""
    server_upstream = Upstream().start()
    request.addfinalizer(server_upstream.stop)
    # Every browser test of the session sends as alice: the per-user message cap (tested on its
    # own in test_many_users.py) would refuse the 31st send of any minute of the run.
    server = ChatServer(server_upstream.base_url, server_upstream, env={"CHAT_MESSAGES_PER_MINUTE": "100000"})
    request.addfinalizer(server.stop)  # finalizers run last-in first-out: server first
    return server.start()


@pytest.fixture(scope="session")
def daphne_server(request) -> ChatServer:
    """The same, served as the Channels docs serve an app: `daphne chatsite.asgi:application`."""
    server_upstream = Upstream().start()
    request.addfinalizer(server_upstream.stop)
    server = ChatServer(server_upstream.base_url, server_upstream, command="daphne")
    request.addfinalizer(server.stop)
    return server.start()


@pytest.fixture
def up(chat_server) -> Upstream:
    """The server's upstream, with no scripts or requests left from an earlier test."""
    chat_server.upstream.reset()
    yield chat_server.upstream
    chat_server.upstream.reset()


@pytest.fixture
def upstream(_upstream_server):
    _upstream_server.reset()
    yield _upstream_server
    _upstream_server.reset()


@pytest.fixture
def provider(db, upstream):
    provider = Provider.objects.create(name="Loopback", base_url=upstream.base_url, api_key=SECRET)
    LanguageModel.objects.create(provider=provider, name="test/model-a", is_default=True)
    return provider


@pytest.fixture
def same_minute():
    """Start a test of messages a minute well inside one minute: the counts start afresh when
    the next begins (limits.py), and a test near its end would see its sends counted apart."""
    from chatsite.chat.limits import WINDOW_SECONDS

    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 5:
        time.sleep(left + 0.1)


@pytest.fixture
def model(provider):
    return provider.models.get(name="test/model-a")


def make_user(django_user_model, name: str):
    return django_user_model.objects.create_user(name, password=f"{name}-password-123")


@pytest.fixture
def alice(django_user_model):
    return make_user(django_user_model, "alice")


@pytest.fixture
def bob(django_user_model):
    return make_user(django_user_model, "bob")


@pytest.fixture
def charlie(django_user_model):
    """Should have no access to Alice's stuff."""
    return make_user(django_user_model, "charlie")


def logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def session_cookie(user) -> str:
    return logged_in_client(user).cookies["sessionid"].value


async def open_socket(user=None, *, origin: str = ORIGIN, host: str = "127.0.0.1:8000", cookie: str | None = None):
    """A connected WebsocketCommunicator on the real ASGI application, logged in as `user`."""
    from chatsite.asgi import application

    headers = [(b"host", host.encode()), (b"origin", origin.encode())]
    if cookie is None and user is not None:
        cookie = await sync_to_async(session_cookie)(user)
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, code = await communicator.connect()
    communicator.accepted = connected
    communicator.close_code = code
    return communicator


async def frames_until(communicator, predicate, timeout: float = 5.0) -> list[dict]:
    """Receive frames until one satisfies predicate; return all of them."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if predicate(frame):
            return frames


def is_done(frame: dict) -> bool:
    return frame["type"] == "done"


def answer_text(frames: list[dict]) -> str:
    """The text a browser would show, built from the delta frames in seq order."""
    deltas = [f for f in frames if f["type"] == "delta"]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    return "".join(d["text"] for d in deltas)
