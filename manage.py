#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartpay.settings")
    from django.core.management import execute_from_command_line

    from smartpay.request_context import acting_from

    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    with acting_from(f"command:{command}"):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
