"""Running the project in a child process with a chosen environment."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from django.core import mail

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def child_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The current environment without service URLs (the embedded default), plus overrides."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="smartpay.settings")
    env.update(overrides)
    return env


def production_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The embedded default's environment with the variables production must set
    (``HTTPS=true`` turns on secure cookies, HSTS and the redirect), plus overrides."""
    return child_env(
        data_dir,
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="smartpay.example",
        CSRF_TRUSTED_ORIGINS="https://smartpay.example",
        HTTPS="true",
        **overrides,
    )


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def link_in_last_mail(pattern: str) -> str:
    match = re.search(rf"https?://[^/\s]+(?P<path>{pattern})", str(mail.outbox[-1].body))
    assert match, mail.outbox[-1].body
    return match.group("path")
