"""``manage.py reconcile``: check the ledger and the card rail, print the report in words."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from escrow.services.reconciliation import describe_drift, reconcile
from escrow.tasks import RECONCILE_TIME_LIMIT
from smartpay.periodic import single_run


class Command(BaseCommand):
    help = (
        "Check the ledger invariants and compare the card rail's external account with "
        "the provider's balance transactions; stores a report staff read in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fail-on-drift",
            action="store_true",
            help="Exit with status 1 when the report finds any problem or drift.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with single_run("escrow-reconcile", RECONCILE_TIME_LIMIT) as acquired:
            if not acquired:
                raise CommandError("Another reconciliation is running; nothing was done.")
            self.stdout.write("Reading the provider's balance transactions and the ledger…")
            report = reconcile()
        self.stdout.write(
            f"Report {report.pk}: checked {report.checked_transfers} ledger transfer(s) and "
            f"{report.checked_provider_entries} provider balance transaction(s)."
        )
        for line in describe_drift(report):
            self.stdout.write(line)
        for problem in report.problems:
            self.stderr.write(f"PROBLEM {problem}")
        if report.ok:
            self.stdout.write(self.style.SUCCESS("Ledger and card rail agree."))
            return
        summary = f"{len(report.problems)} problem(s) found; see report {report.pk} in the admin."
        if options["fail_on_drift"]:
            raise CommandError(summary)
        self.stdout.write(self.style.WARNING(summary))
