"""Start chatsite: providers from the environment, the demo model if needed, then daphne."""

import asyncio
import gc
import logging
import os
import sys

from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand

from chatsite.accounts.firstrun import announce_setup_code
from chatsite.chat.generation import STALE_SECONDS, reap_and_announce
from chatsite.lib.addresses import ForwardedProto
from chatsite.lib.daphne import limit_request_bodies
from chatsite.providers import bootstrap, localmodel

log = logging.getLogger(__name__)


def tune_garbage_collector() -> None:
    """Keep the collector's full passes off the streaming path.

    Django and the app are loaded by now: freezing moves those long-lived objects out of the
    collector's sight, so its passes stop walking them. A larger youngest generation means
    fewer passes; frames, deltas and parsed chunks die young either way. (bench/stream.py: the
    collector took 0.7 s of the server's CPU in a run, 0.25 s with this.)
    """
    import chatsite.asgi  # noqa: F401 - the application and everything it imports, before freezing

    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


class Daphne(CommandLineInterface):
    """daphne's command line, with X-Forwarded-Proto read by ForwardedProto when proxy_headers.

    daphne's own --proxy-headers would also replace the client's address with the leftmost
    X-Forwarded-For entry, which the client writes itself; the app finds the address with
    chatsite.lib.addresses.client_address (TRUSTED_PROXIES) instead, so daphne is never told.
    """

    def __init__(self, proxy_headers: bool) -> None:
        super().__init__()
        self.proxy_headers = proxy_headers

    def load_asgi_app(self, asgi_app_path: str):
        application = super().load_asgi_app(asgi_app_path)
        return ForwardedProto(application) if self.proxy_headers else application


class Command(BaseCommand):
    help = "Run chatsite under daphne (and the bundled demo model when no provider is configured)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="Behind a proxy: trust X-Forwarded-Proto. (X-Forwarded-For is read as TRUSTED_PROXIES says.)",
        )

    def handle(self, *args, host: str, port: int, proxy_headers: bool, **options) -> None:
        # Whatever else the server writes (SQLite's files, logs, temporary files) is its own.
        os.umask(0o077)
        bootstrap.configure_env_provider()
        local = None
        if bootstrap.needs_local_model() and localmodel.available():
            self.stdout.write("No provider is configured: starting the bundled SmolLM2 demo model…")
            local = bootstrap.start_local_model(log_path=settings.DATA_DIR / "llama-server.log")
        else:
            bootstrap.disable_local_model()
            if bootstrap.needs_local_model():
                self.stderr.write("No provider is configured and the demo model is not installed.")
        # With the in-memory channel layer this is the only process, so every "streaming"
        # row is an orphan; with Redis other processes may be streaming: go by staleness.
        asyncio.run(reap_and_announce(STALE_SECONDS if settings.REDIS_URL else 0))
        limit_request_bodies(settings.CHAT_MAX_UPLOAD_BYTES + 1024 * 1024)
        # The database thread hands the GIL back and forth with the busy event loop after
        # every SQLite call; the default 5 ms switch interval made each hand-off that long.
        sys.setswitchinterval(0.001)
        tune_garbage_collector()
        self.stdout.write(f"chatsite is at http://{host}:{port}/")
        announce_setup_code()
        argv = [
            "-b", host,
            "-p", str(port),
            "--websocket-max-message-size", str(settings.CHAT_MAX_FRAME_BYTES),
            "--websocket-max-frame-size", str(settings.CHAT_MAX_FRAME_BYTES),
            "--ping-interval", "20",
        ]  # fmt: skip
        try:
            Daphne(proxy_headers).run([*argv, "chatsite.asgi:application"])
        finally:
            if local:
                local.stop()
