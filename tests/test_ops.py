"""What an operator relies on: health checks, metrics and log lines, on the real server."""

import json
import re

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from tests.browser import log_in, new_context
from tests.server import ChatServer, free_port
from tests.upstream import Upstream


@pytest.fixture
def own_upstream():
    with Upstream() as upstream:
        yield upstream


def test_health_and_readiness_need_no_login_and_tell_no_secret(chat_server):
    with httpx.Client(base_url=chat_server.url, timeout=10) as client:
        health = client.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "database": "ok", "migrations": "ok", "channel_layer": "ok"}
        for secret in ("sk-browser-secret", "postgres", "redis", str(chat_server.data_dir)):
            assert secret not in ready.text


def test_readiness_fails_when_the_channel_layer_is_unreachable_and_says_only_which(own_upstream):
    # A Redis that is not there (a closed port): the process is alive, not ready.
    env = {"REDIS_URL": "redis://127.0.0.1:9/0"}
    with ChatServer(own_upstream.base_url, own_upstream, env=env, users=False) as server:
        with httpx.Client(base_url=server.url, timeout=20) as client:
            assert client.get("/healthz").status_code == 200
            ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["channel_layer"] == "failing" and ready.json()["database"] == "ok"
    assert "127.0.0.1:9" not in ready.text


def test_metrics_and_json_logs_count_answers_and_carry_no_text(browser, own_upstream):
    port = free_port()
    env = {"METRICS_ADDRESS": f"127.0.0.1:{port}", "LOG_FORMAT": "json"}
    with ChatServer(own_upstream.base_url, own_upstream, env=env) as server:
        own_upstream.script(tokens=["Fine", " thanks"])
        own_upstream.script(status=500)
        context = new_context(browser, server, None)
        page = context.new_page()
        log_in(page)
        page.wait_for_function("() => window.__sockets.some((s) => s.readyState === WebSocket.OPEN)")
        for text in ("the secret words of a question", "another question"):
            page.fill("#composer-input", text)
            page.press("#composer-input", "Enter")
            expect(page.locator('article[data-role="assistant"]').last).not_to_have_attribute(
                "data-status", "streaming", timeout=10_000
            )
        context.close()
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        log = server.log_path.read_text()
    assert re.search(r'^chatsite_answers_total\{status="complete"\} 1\.0$', scrape, re.M)
    assert re.search(r'^chatsite_answers_total\{status="error"\} 1\.0$', scrape, re.M)
    assert re.search(r'^chatsite_provider_errors_total\{kind="server"\} 1\.0$', scrape, re.M)
    assert re.search(r"^chatsite_time_to_first_token_seconds_count 1\.0$", scrape, re.M)
    assert re.search(r"^chatsite_answer_duration_seconds_count 2\.0$", scrape, re.M)
    assert re.search(r"^chatsite_tokens_relayed_total 2\.0$", scrape, re.M)
    assert re.search(r"^chatsite_live_answers 0\.0$", scrape, re.M)
    assert re.search(r"^chatsite_sockets \d", scrape, re.M)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    answers = [line for line in lines if line["logger"] == "chatsite.answers"]
    assert [a["status"] for a in answers] == ["complete", "error"]
    assert answers[0]["model"] == "test/model-a" and answers[0]["completion_tokens"] == 2
    assert answers[1]["error_kind"] == "server"
    requests = [line for line in lines if line["logger"] == "chatsite.requests"]
    assert any(r["path"] == "/" and r["status"] == 200 and r["user_id"] for r in requests)
    assert "secret words" not in log and "sk-browser-secret" not in log


def test_a_backup_taken_while_the_server_runs_restores_into_a_working_site(browser, own_upstream, tmp_path):
    from tests.samples import png_bytes

    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes())
    # The operator keeps the key that encrypts the secrets apart from the backups, and gives it
    # to the restored site (without it the stored provider keys could not be read).
    keys = {"SECRETS_KEYS": Fernet.generate_key().decode()}
    with ChatServer(own_upstream.base_url, own_upstream, env=keys) as server:
        context = new_context(browser, server, None)
        page = context.new_page()
        log_in(page)
        page.wait_for_function("() => window.__sockets.some((s) => s.readyState === WebSocket.OPEN)")
        page.set_input_files("#attach-input", str(picture))
        expect(page.locator(".attachment-tray")).to_be_visible()
        expect(page.locator("#attachment-tray .attachment-pending.is-uploading")).to_have_count(0)  # uploaded
        page.fill("#composer-input", "Keep this picture")
        page.press("#composer-input", "Enter")
        expect(page.locator('article[data-role="assistant"]').last).to_have_attribute("data-status", "complete")
        context.close()
        server._manage("backup", str(tmp_path / "backups"))  # while the server runs
        [folder] = (tmp_path / "backups").iterdir()
        assert not (folder / "secret_key").exists()
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
    # Another site, from nothing: migrated, stopped, restored, started again.
    restored = ChatServer(own_upstream.base_url, own_upstream, users=False, env=keys)
    try:
        restored.start()
        restored.process.terminate()
        restored.process.wait(15)
        restored._manage("restore", str(folder), "--yes")
        restored.launch()
        context = new_context(browser, restored, None)
        page = context.new_page()
        log_in(page)
        page.locator(".conversation-link", has_text="Keep this picture").click()
        expect(page.locator("article[data-role='user'] .message-body")).to_have_text("Keep this picture")
        image = page.locator("article[data-role='user'] img.attachment-thumb")
        expect(image).to_be_visible()
        image.evaluate("img => img.decode ? img.decode() : null")  # loaded (visible is not loaded)
        assert image.evaluate("img => img.complete && img.naturalWidth") == 40  # the file came back
        context.close()
    finally:
        restored.stop()
