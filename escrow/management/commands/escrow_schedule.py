"""``manage.py escrow_schedule``: create or correct escrow's beat schedule (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand

from escrow.schedule import ensure_periodic_tasks


class Command(BaseCommand):
    help = "Settlement every minute, reconciliation hourly, automatic payouts Mondays 06:00 UTC."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, outcome in ensure_periodic_tasks():
            self.stdout.write(f"{name}: {outcome}")
        self.stdout.write(self.style.SUCCESS("Escrow's periodic tasks are scheduled."))
