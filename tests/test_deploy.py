"""The deployment an operator copies from deploy/, for real: Debian's nginx with deploy/nginx.conf
(TLS, websockets, nothing buffered) in front of two chatsite processes started by the command
of deploy/chatsite@.service, sharing PostgreSQL, Redis and the uploads' folder.

A stream started on one process is watched, stopped, reloaded and regenerated from the other;
one process is killed mid-answer and the other marks its answer interrupted with the text saved
so far; a file uploaded through one is sent and shown by the other. The files are used as they
are, with only ports, paths and the certificate put in, so a change to them that breaks this
breaks the test.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from tests.browser import INSTRUMENT, log_in
from tests.deployment import start_nginx, unit
from tests.samples import png_bytes
from tests.server import ROOT, ChatServer, free_port
from tests.upstream import Upstream
from tests.wsclient import WebSocket

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not (DATABASE_URL.startswith(("postgres://", "postgresql://")) and os.environ.get("REDIS_URL")),
    reason="several processes need PostgreSQL and Redis: CI's second run has them (DATABASE_URL, REDIS_URL)",
)


class Deployment:
    def __init__(self, tmp: Path, upstream: Upstream) -> None:
        self.tmp = tmp
        self.https_port, self.http_port = free_port(), free_port()
        self.origin = f"https://127.0.0.1:{self.https_port}"
        self.ports = [free_port(), free_port()]
        env = {
            "HTTPS": "1",
            "TRUSTED_PROXIES": "1",
            "CSRF_TRUSTED_ORIGINS": self.origin,
            "SECRET_KEY": "deploy-test-" + "x" * 40,
            "SECRETS_KEYS": Fernet.generate_key().decode(),
            "STREAM_STALE_SECONDS": "4",  # a dead process's answers are reaped within seconds
            "LOG_FORMAT": "json",
        }
        # Migrations, static files, users and a fresh database of its own, as for one server.
        self.server = ChatServer(upstream.base_url, upstream, command="daphne", env=env)
        self.processes: list[subprocess.Popen | None] = [None, None]
        self.nginx: subprocess.Popen | None = None

    def start(self) -> Deployment:
        self.server.start()
        self.server.process.terminate()  # its own single process: the units' two take over
        self.server.process.wait(15)
        for instance in (1, 2):
            self.launch(instance)
        self.start_nginx()
        return self

    def launch(self, instance: int) -> None:
        port = self.ports[instance - 1]
        argv, environment = unit(instance, port, free_port())
        log = open(self.tmp / f"chatsite{instance}.log", "ab")  # noqa: SIM115 - the child's
        self.processes[instance - 1] = subprocess.Popen(
            argv, cwd=ROOT, env={**self.server.env, **environment}, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (self.tmp / f"chatsite{instance}.log").read_text()[-3000:]
            time.sleep(0.1)

    def halt(self, instance: int) -> None:
        process = self.processes[instance - 1]
        process.terminate()
        process.wait(15)

    def start_nginx(self) -> None:
        self.nginx = start_nginx(self.tmp, self.ports, self.https_port, self.http_port)

    def socket(self, instance: int, cookie: str) -> WebSocket:
        """A websocket straight to one instance, as nginx would open it for a browser."""
        return WebSocket.open(self.ports[instance - 1], origin=self.origin, cookie=cookie)

    def stop(self) -> None:
        for process in [*self.processes, self.nginx]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.server.stop()


@pytest.fixture
def deployment(tmp_path):
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed: ./dev test installs Debian's nginx for this test")
    with Upstream() as upstream:
        deployment = Deployment(tmp_path, upstream)
        try:
            yield deployment.start(), upstream
        finally:
            deployment.stop()


def answer_of(frames: list[dict]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def signed_in(browser, site: Deployment):
    """A browser signed in as alice through nginx, with its socket open."""
    context = browser.new_context(base_url=site.origin, ignore_https_errors=True)
    context.add_init_script(INSTRUMENT)
    page = context.new_page()
    log_in(page)
    page.wait_for_function("() => window.__sockets.some((s) => s.readyState === WebSocket.OPEN)")
    return context, page


def session_cookie(context) -> str:
    return f"sessionid={next(c['value'] for c in context.cookies() if c['name'] == 'sessionid')}"


def test_two_processes_behind_nginx_serve_one_stream_from_either_and_survive_one_dying(browser, deployment):
    site, upstream = deployment
    # Through nginx, with TLS: a browser logs in and an answer streams in token by token.
    upstream.script(tokens=[f" w{i}" for i in range(20)], delay=0.05)
    context, page = signed_in(browser, site)
    page.fill("#composer-input", "Through the proxy")
    page.press("#composer-input", "Enter")
    body = page.locator('article[data-role="assistant"] .message-body').last
    expect(body).to_contain_text("w3", timeout=10_000)
    assert "w19" not in body.text_content()  # seen while it streams: nothing buffered it whole
    expect(page.locator('article[data-role="assistant"]').last).to_have_attribute("data-status", "complete")
    cookie = session_cookie(context)
    context.close()

    # A long answer started on process 1 is watched from process 2…
    upstream.script(tokens=[f" t{i}" for i in range(400)], delay=0.02)
    first = site.socket(1, cookie)
    first.send_json({"type": "send", "text": "A long one", "ref": "a"})
    code = first.until(lambda f: f["type"] == "created")[-1]["conversation"]["id"]
    first.until(lambda f: f["type"] == "delta" and f["seq"] >= 3)
    second = site.socket(2, cookie)
    second.send_json({"type": "subscribe", "conversation": code})
    snapshot = second.until(lambda f: f["type"] == "snapshot")[-1]
    assert snapshot["message"]["status"] == "streaming" and snapshot["message"]["text"].startswith(" t0 t1")
    more = second.until(lambda f: f["type"] == "delta" and f["seq"] > snapshot["seq"] + 2)
    assert answer_of(more).strip()
    # …stopped from process 2: both tabs see it end as stopped, and so does the database.
    second.send_json({"type": "stop", "conversation": code})
    stopped = second.until(lambda f: f["type"] == "done")[-1]["message"]
    assert stopped["status"] == "stopped"
    assert first.until(lambda f: f["type"] == "done")[-1]["message"]["status"] == "stopped"
    assert upstream.wait_disconnects(1, timeout=5)  # the provider's request was closed
    [(status, text)] = site.server.query(
        "SELECT status, text FROM chat_message WHERE role = 'assistant' AND text LIKE ' t0%%'"
    )
    assert status == "stopped" and text == stopped["text"]
    # A reload on process 2 shows its end; a regenerate from process 2 streams to process 1's tab.
    reloaded = site.socket(2, cookie)
    reloaded.send_json({"type": "subscribe", "conversation": code})
    assert reloaded.recv_json()["message"]["status"] == "stopped"
    upstream.script(tokens=["Again", "."], delay=0.02)
    second.send_json({"type": "regenerate", "conversation": code})
    again = first.until(lambda f: f["type"] == "done")
    assert answer_of(again) == "Again." and again[-1]["message"]["status"] == "complete"

    # Process 1 is killed mid-answer: process 2 marks that answer interrupted, its text kept.
    upstream.script(tokens=[f" k{i}" for i in range(400)], delay=0.02)
    first.send_json({"type": "send", "conversation": code, "text": "Once more"})
    first.until(lambda f: f["type"] == "delta" and f["seq"] >= 5)
    time.sleep(1.0)  # at least one save of the growing answer
    site.processes[0].send_signal(signal.SIGKILL)
    site.processes[0].wait(5)
    killed = second.until(lambda f: f["type"] == "done" and f["message"]["status"] != "complete", timeout=20)[-1]
    assert killed["message"]["status"] == "interrupted"
    [(status, text, error)] = site.server.query(
        "SELECT status, text, error FROM chat_message WHERE role = 'assistant' AND text LIKE ' k0%%'"
    )
    assert status == "interrupted" and error and text.startswith(" k0 k1")
    # The site still answers, through nginx, on the process that is left.
    assert httpx.get(f"{site.origin}/healthz", verify=False, timeout=5).status_code == 200
    upstream.script(tokens=["Still", " here"])
    last = site.socket(2, cookie)
    last.send_json({"type": "send", "conversation": code, "text": "Still there?"})
    assert answer_of(last.until(lambda f: f["type"] == "done")) == "Still here"
    for socket in (first, second, reloaded, last):
        socket.close()


def test_a_budget_counts_across_processes(browser, deployment):
    # alice has 10 tokens of today's budget left; two tabs, one on each process, send at once:
    # the processes share the budget's rows (locked in each batch), so exactly one answer starts.
    site, upstream = deployment
    context, _ = signed_in(browser, site)
    cookie = session_cookie(context)
    context.close()
    site.server._manage(
        "shell",
        "-c",
        "from django.utils import timezone\n"
        "from chatsite.accounts.models import User\n"
        "from chatsite.teams.models import Budget, DailyUsage\n"
        "alice = User.objects.get(username='alice')\n"
        "Budget.objects.create(user=alice, tokens_per_day=1000)\n"
        "DailyUsage.objects.create(day=timezone.localdate(), user=alice, provider_name='Loopback',"
        " model_name='test/model-a', requests=9, total_tokens=990)\n",
    )
    upstream.set_default(tokens=["slow"] * 20, delay=0.05)
    tabs = [site.socket(1, cookie), site.socket(2, cookie)]
    for i, tab in enumerate(tabs):
        tab.send_json({"type": "send", "text": f"tab {i}"})
    ends = [tab.until(lambda f: f["type"] in ("done", "error"), timeout=15)[-1] for tab in tabs]
    assert sorted(end["type"] for end in ends) == ["done", "error"], ends
    [error] = [end for end in ends if end["type"] == "error"]
    assert "budget" in error["error"] and "left" in error["error"]
    [(answers,)] = site.server.query("SELECT count(*) FROM chat_message WHERE role = 'assistant'")
    assert answers == 1  # the refused tab's turn saved nothing
    for tab in tabs:
        tab.close()


def test_a_file_uploaded_through_one_process_is_sent_and_shown_by_the_other(browser, deployment, tmp_path):
    site, upstream = deployment
    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes())
    # Only process 1 runs while the picture is uploaded through nginx…
    site.halt(2)
    context, page = signed_in(browser, site)
    page.set_input_files("#attach-input", picture)
    tray = page.locator("#attachment-tray")
    expect(tray.locator("img.attachment-thumb")).to_have_count(1)
    expect(tray.locator(".attachment-pending.is-uploading")).to_have_count(0)  # uploaded
    # …and only process 2 when it is sent and shown: it reads the file from the shared folder.
    # (A rolling restart, quicker than nginx's default 10 s out after a failure: no 502.)
    site.launch(2)
    site.halt(1)
    page.wait_for_function("() => window.__sockets.at(-1).readyState === WebSocket.OPEN", timeout=20_000)
    upstream.script(tokens=["A red ", "rectangle."])
    page.fill("#composer-input", "What is this?")
    page.press("#composer-input", "Enter")
    expect(page.locator('article[data-role="assistant"]').last).to_have_attribute(
        "data-status", "complete", timeout=15_000
    )
    assert base64.b64encode(picture.read_bytes()).decode() in json.dumps(upstream.requests[-1]["json"])
    thumb = page.locator('article[data-role="user"] img.attachment-thumb').last
    thumb.evaluate("img => img.decode ? img.decode() : null")
    assert thumb.evaluate("img => img.complete && img.naturalWidth") == 40
    context.close()
