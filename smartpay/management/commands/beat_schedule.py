"""``manage.py beat_schedule``: create or correct the beat schedule (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand

from smartpay.schedule import ENTRIES, ensure_periodic_tasks


class Command(BaseCommand):
    help = (
        "Create or correct the periodic tasks (settlement, reconciliation, chain sync, "
        "dispute deadlines, digests, backups, cleanup); staff edit them in the admin."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for name, outcome in ensure_periodic_tasks():
            self.stdout.write(f"{name}: {outcome}")
        self.stdout.write(self.style.SUCCESS(f"{len(ENTRIES)} periodic tasks are scheduled."))
