"""A restart loses nothing: the real server, stopped with SIGTERM (systemd stop, Ctrl-C) or killed,
and started again; as `manage.py serve` and as plain `daphne chatsite.asgi:application`, which
must behave the same (chatsite/chat/runtime.py install).

Each test runs a server of its own (it is stopped), with the browser as the client.
"""

import signal
import time

import pytest
from playwright.sync_api import expect

from tests.browser import log_in, new_context
from tests.server import ChatServer
from tests.upstream import Upstream

TOKENS = [f" t{i}" for i in range(400)]


@pytest.fixture
def own_upstream():
    with Upstream() as upstream:
        yield upstream


def start_server(upstream: Upstream, command: str, **env: str) -> ChatServer:
    return ChatServer(upstream.base_url, upstream, command=command, env=env).start()


def open_chat_and_send(browser, server: ChatServer, text: str):
    context = new_context(browser, server, None)
    page = context.new_page()
    log_in(page)
    page.wait_for_function("() => window.__sockets.some((s) => s.readyState === WebSocket.OPEN)")
    page.evaluate(
        "window.__closes = []; for (const s of window.__sockets) s.addEventListener('close', (e) => "
        "window.__closes.push(e.code))"
    )
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")
    return context, page


def answer(page):
    return page.locator('article[data-role="assistant"]').last


def saved_answer(server: ChatServer) -> tuple[str, str, str]:
    [row] = server.query("SELECT text, status, error FROM chat_message WHERE role = 'assistant'")
    return row


@pytest.mark.parametrize(
    ("command", "signum"),
    [("serve", signal.SIGTERM), ("daphne", signal.SIGTERM), ("serve", signal.SIGINT)],  # SIGINT: Ctrl-C
    ids=["serve", "daphne", "serve-ctrl-c"],
)
def test_sigterm_saves_each_answer_whole_as_interrupted_tells_the_tabs_and_exits(
    browser, own_upstream, command, signum
):
    own_upstream.set_default(tokens=TOKENS, delay=0.02)
    server = start_server(own_upstream, command)
    try:
        context, page = open_chat_and_send(browser, server, "A long one, please")
        expect(answer(page).locator(".message-body")).to_contain_text("t40", timeout=15_000)
        began = time.monotonic()
        server.process.send_signal(signum)
        # The tab is told: the answer ends as interrupted, saying why, and the socket closes
        # with "service restart" (the page then tries to reconnect).
        expect(answer(page)).to_have_attribute("data-status", "interrupted", timeout=10_000)
        expect(answer(page).locator(".meta-status")).to_contain_text("restarted")
        shown = answer(page).locator(".message-body").text_content().strip()
        server.process.wait(12)
        assert time.monotonic() - began < 10.5  # out within the bound
        page.wait_for_function("() => window.__closes.length > 0")
        assert page.evaluate("window.__closes")[0] == 4012
        text, status, error = saved_answer(server)
        assert status == "interrupted" and "restarted" in error
        assert text.strip() == shown  # every token the user saw is stored, not half a second less
        assert own_upstream.wait_disconnects(1)  # the provider's request was closed
        context.close()
    finally:
        server.stop()


@pytest.mark.parametrize("command", ["serve", "daphne"])
def test_after_sigkill_the_next_start_marks_the_answer_interrupted_with_its_text(browser, own_upstream, command):
    own_upstream.set_default(tokens=TOKENS, delay=0.02)
    # With Redis, other processes may be streaming: a new process reaps what has gone stale
    # (STREAM_STALE_SECONDS), not every streaming row; alone (in memory) it reaps them all at once.
    stale = 3
    server = start_server(own_upstream, command, STREAM_STALE_SECONDS=str(stale))
    try:
        context, page = open_chat_and_send(browser, server, "A long one, please")
        expect(answer(page).locator(".message-body")).to_contain_text("t40", timeout=15_000)
        time.sleep(0.6)  # a flush
        server.process.kill()
        server.process.wait(5)
        context.close()
        text, status, _ = saved_answer(server)
        assert status == "streaming" and "t10" in text  # as a crash leaves it: up to the last flush
        server.launch()  # the start-up reap of the new process
        deadline = time.monotonic() + 10 + stale
        while saved_answer(server)[1] == "streaming" and time.monotonic() < deadline:
            time.sleep(0.1)
        text_after, status, error = saved_answer(server)
        assert status == "interrupted" and text_after == text and error
    finally:
        server.stop()
