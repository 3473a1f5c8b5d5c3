"""Replace the site's database and uploads with a backup's. Stop the server first."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chatsite.ops.backups import BackupError, restore


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", type=Path, help="a folder written by manage.py backup")
        parser.add_argument("--yes", action="store_true", help="replace this site's data without asking")

    def handle(self, *args, source: Path, yes: bool, **options) -> None:
        if not yes:
            raise CommandError("This replaces the site's database and uploads: stop the server, then add --yes.")
        try:
            restore(source)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Restored from {source}")
