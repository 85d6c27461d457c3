"""``manage.py backup [--prune] [--list]``: back up the database to the backups storage."""

from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat

from smartpay.backup_progress import StageProgress
from smartpay.backups import BackupError, create_backup, list_backups, prune_backups


class Command(BaseCommand):
    help = (
        "Dump the database (pg_dump, or SQLite's backup API) with a checksum and a manifest "
        "into the backups storage (BACKUP_LOCATION; S3 when AWS_STORAGE_BUCKET_NAME is set)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Afterwards delete backups beyond BACKUP_KEEP_DAILY / BACKUP_KEEP_WEEKLY.",
        )
        parser.add_argument(
            "--list", action="store_true", help="List the stored backups; make none."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["list"]:
                self.print_list()
                return
            self.back_up()
            if options["prune"]:
                self.prune()
        except BackupError as error:
            raise CommandError(str(error)) from error

    def print_list(self) -> None:
        backups = list_backups()
        if not backups:
            self.stdout.write("No backups yet.")
        for info in backups:
            size = filesizeformat(info.size)
            self.stdout.write(f"{info.name}  {info.engine:10}  {size:>10}  sha256 {info.sha256}")

    def back_up(self) -> None:
        progress = StageProgress(cast(TextIO, self.stderr._out))  # tqdm needs the raw stream
        try:
            info = create_backup(progress=progress)
        finally:
            progress.close()
        self.stdout.write(
            self.style.SUCCESS(f"Backup {info.name} stored ({filesizeformat(info.size)}).")
        )

    def prune(self) -> None:
        deleted = prune_backups()
        for name in deleted:
            self.stdout.write(f"Deleted {name}")
        self.stdout.write(f"Pruned {len(deleted)} old backup(s).")
