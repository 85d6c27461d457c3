"""``manage.py check_ledger``: the ledger invariants, in words; exit 1 on any problem."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from escrow.ledger import find_problems


class Command(BaseCommand):
    help = "Check balances sum to zero per currency, none is negative, transfers explain each."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = find_problems()
        for problem in problems:
            self.stderr.write(f"PROBLEM {problem}")
        if problems:
            raise CommandError(f"{len(problems)} ledger problem(s) found.")
        self.stdout.write(self.style.SUCCESS("Ledger is sound."))
