"""Delete conversations older than their owner's retention (the site's or their teams'), with
their files. Safe from cron or a systemd timer: a second run, or two at once, deletes nothing
more; answers streaming keep their conversations. See chatsite/chat/retention.py."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chatsite.chat.retention import prune


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help=_("say what would be deleted, delete nothing"))

    def handle(self, *args, dry_run: bool, verbosity: int, **options) -> None:
        pruned = prune(dry_run=dry_run)
        if verbosity > 1:
            for owner, code, updated in pruned.deleted:
                self.stdout.write(
                    _("%(owner)s: conversation %(code)s, last used %(when)s")
                    % {"owner": owner, "code": code, "when": updated.isoformat(timespec="seconds")}
                )
        for owner, count in sorted(pruned.by_owner.items()):
            self.stdout.write(
                ngettext("%(owner)s: %(count)s conversation", "%(owner)s: %(count)s conversations", count)
                % {"owner": owner, "count": count}
            )
        counts = {"conversations": pruned.conversations, "messages": pruned.messages, "files": pruned.files}
        if dry_run:
            summary = _("Would delete %(conversations)s conversation(s), %(messages)s message(s), %(files)s file(s).")
        else:
            summary = _("Deleted %(conversations)s conversation(s), %(messages)s message(s), %(files)s file(s).")
        self.stdout.write(summary % counts)
