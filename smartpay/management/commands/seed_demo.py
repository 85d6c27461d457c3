"""Load demo data: ``manage.py seed_demo [--if-empty]``."""

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from smartpay.demo import DEMO_USERS, database_is_empty, demo_steps, demo_totp_url, run_step


class Command(BaseCommand):
    help = "Create demo users (and, as the product grows, jobs, contracts and money)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already has users.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and not database_is_empty():
            self.stdout.write("Demo data: the database already has users; left as it is.")
            self.print_logins()
            return
        steps = demo_steps()
        with tqdm(total=len(steps), desc="Demo data", unit="step", file=sys.stderr) as bar:
            for label, step in steps:
                bar.set_postfix_str(label)
                run_step(step)
                bar.update(1)
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.print_logins()

    def print_logins(self) -> None:
        self.stdout.write("Demo logins:")
        for spec in DEMO_USERS:
            self.stdout.write(f"  {spec.email:34} password: {settings.DEMO_PASSWORD}")
            if totp_url := demo_totp_url(spec.email):
                self.stdout.write(f"  {'':34} authenticator (admin needs it): {totp_url}")
