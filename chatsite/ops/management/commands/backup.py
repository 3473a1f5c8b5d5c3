"""Write a consistent backup of the database and the uploads into a new folder under DEST."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chatsite.ops.backups import BackupError, backup


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("destination", type=Path)

    def handle(self, *args, destination: Path, **options) -> None:
        try:
            folder = backup(destination)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Backup written to {folder}")
