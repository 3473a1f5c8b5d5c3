"""Start chatsite: providers from the environment, the demo model if needed, then daphne.

What serving needs beyond that (body limits, process tuning, the start-up reap, graceful
shutdown) is applied where the application is loaded (chatsite/chat/runtime.py), so plain
`daphne chatsite.asgi:application` gets it too.
"""

import logging

from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand

from chatsite.accounts.firstrun import announce_setup_code
from chatsite.lib.addresses import ForwardedProto
from chatsite.providers import bootstrap, localmodel

log = logging.getLogger(__name__)


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
        bootstrap.configure_env_provider()
        local = None
        if bootstrap.needs_local_model() and localmodel.available():
            self.stdout.write("No provider is configured: starting the bundled SmolLM2 demo model…")
            local = bootstrap.start_local_model(log_path=settings.DATA_DIR / "llama-server.log")
        else:
            bootstrap.disable_local_model()
            if bootstrap.needs_local_model():
                self.stderr.write("No provider is configured and the demo model is not installed.")
        self.stdout.write(f"chatsite is at http://{host}:{port}/")
        announce_setup_code()
        try:
            Daphne(proxy_headers).run(["-b", host, "-p", str(port), "chatsite.asgi:application"])
        finally:
            if local:
                local.stop()
