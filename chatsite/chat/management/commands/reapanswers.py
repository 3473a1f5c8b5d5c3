"""Mark answers left "streaming" by a process that died as interrupted (their text is kept)."""

import asyncio

from django.core.management.base import BaseCommand

from chatsite.chat.saving import STALE_SECONDS, reap_and_announce


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", type=float, default=STALE_SECONDS, help="seconds since last write")

    def handle(self, *args, older_than: float, **options) -> None:
        count = asyncio.run(reap_and_announce(older_than))
        self.stdout.write(f"{count} answer(s) marked interrupted.")
