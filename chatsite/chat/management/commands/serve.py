"""Start chatsite: providers from the environment, the demo model if needed, then daphne.

What serving needs beyond that (body limits, process tuning, the start-up reap, graceful
shutdown) is applied where the application is loaded (chatsite/chat/runtime.py), so plain
`daphne chatsite.asgi:application` gets it too.
"""

import logging

from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand

from chatsite.providers import bootstrap, localmodel

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run chatsite under daphne (and the bundled demo model when no provider is configured)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--proxy-headers", action="store_true", help="Trust X-Forwarded-For/-Proto.")

    def handle(self, *args, host: str, port: int, proxy_headers: bool, **options) -> None:
        bootstrap.configure_env_provider()
        local = None
        if bootstrap.needs_local_model() and localmodel.available():
            self.stdout.write("No provider is configured: starting the bundled SmolLM2 demo model…")
            local = localmodel.LocalModelServer(log_path=settings.DATA_DIR / "llama-server.log")
            base_url = local.start()
            bootstrap.register_local_model(base_url, local.api_key, localmodel.MODEL_NAME, localmodel.LABEL)
        else:
            bootstrap.disable_local_model()
            if bootstrap.needs_local_model():
                self.stderr.write("No provider is configured and the demo model is not installed.")
        self.stdout.write(f"chatsite is at http://{host}:{port}/")
        argv = ["-b", host, "-p", str(port), "--ping-interval", "20"]
        if proxy_headers:
            argv.append("--proxy-headers")
        try:
            CommandLineInterface().run([*argv, "chatsite.asgi:application"])
        finally:
            if local:
                local.stop()
