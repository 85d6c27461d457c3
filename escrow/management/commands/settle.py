"""``manage.py settle``: one settlement run, step by step; exit 1 if a step failed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from escrow.tasks import SETTLE_TIME_LIMIT, StepResult, run_settlement
from smartpay.periodic import single_run


class Command(BaseCommand):
    help = (
        "Auto-release after the review window, review reminders, pending -> available, "
        "lapsed refund requests, and retries of card refunds, payouts and webhook events."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # The same lock as the beat task: a run by hand never overlaps a scheduled one.
        with single_run("escrow-settle", SETTLE_TIME_LIMIT) as acquired:
            if not acquired:
                raise CommandError("Another settlement run is in progress; nothing was done.")
            results = run_settlement(on_step=self.show)
        failed = [result for result in results if result.error]
        if failed:
            raise CommandError(f"{len(failed)} settlement step(s) failed; see above.")
        self.stdout.write(self.style.SUCCESS("Settlement done."))

    def show(self, result: StepResult) -> None:
        if result.error:
            self.stderr.write(self.style.ERROR(str(result)))
        else:
            self.stdout.write(str(result))
