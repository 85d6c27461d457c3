"""``manage.py restore <name|latest> [--yes]``: replace the database with a backup."""

from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from smartpay.backup_progress import StageProgress
from smartpay.backups import BackupError, get_backup, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup` (see `backup --list`), replacing "
        "everything in the database. `latest` picks the newest backup of this engine."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A backup name from `backup --list`, or `latest`.")
        parser.add_argument(
            "--yes", action="store_true", help="Do not ask for confirmation (scripts)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            info = get_backup(options["name"])
            if not options["yes"]:
                self.confirm(info.name)
            progress = StageProgress(cast(TextIO, self.stderr._out))  # tqdm needs the raw stream
            try:
                restore_backup(info.name, progress=progress)
            finally:
                progress.close()
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Restored {info.name} ({info.created_at:%c} UTC)."))

    def confirm(self, name: str) -> None:
        """Typing the name, not just "y", makes restoring the wrong backup take effort."""
        self.stdout.write(
            self.style.WARNING(f"This replaces EVERYTHING in the database with {name}.")
        )
        self.stdout.flush()
        try:
            answer = input("Type the backup's name to confirm: ")
        except EOFError:
            answer = ""
        if answer.strip() != name:
            raise CommandError("Confirmation did not match; nothing was restored.")
