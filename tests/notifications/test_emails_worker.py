"""A real Celery worker mails a notification queued on commit, once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import child_env, manage, run_python
from tests.test_celery_worker import worker

NOTIFY_AND_WAIT = """
import time, django; django.setup()
from django.contrib.auth import get_user_model
from django.db import transaction
from notifications.models import Notification
from notifications.services import notify
from notifications.tasks import send_notification_email

user = get_user_model().objects.create_user(email="worker@example.com", password="x" * 20)
with transaction.atomic():
    row = notify(user.pk, "payment_released", "Payment released: Logo", "/contracts/1/",
                 data={"amount": "90.00 USD"})
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    row.refresh_from_db()
    if row.emailed_at:
        break
    time.sleep(0.2)
print("emailed" if row.emailed_at else "not emailed")
# Delivered again (a redelivery after a lost ack, a duplicate enqueue): no second mail.
print(send_notification_email.delay(row.pk).get(timeout=60))
"""


def mails_through_a_worker(tmp_path: Path, **services: str) -> None:
    outbox = tmp_path / "outbox"
    # django-environ drops the first slash of the path: four make an absolute one.
    env = child_env(tmp_path, EMAIL_URL=f"filemail:///{outbox}", **services)
    migrated = manage("migrate", "--noinput", "-v0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    log = tmp_path / "worker.log"

    with worker(env, log):
        result = run_python(NOTIFY_AND_WAIT, env, timeout=150)

    assert result.returncode == 0, result.stderr + log.read_text()[-3000:]
    assert result.stdout.split() == ["emailed", "False"], log.read_text()[-3000:]
    assert "notifications.send_email" in log.read_text()
    files = list(outbox.iterdir())
    assert len(files) == 1
    raw = files[0].read_text()
    assert "Subject: Payment released: Logo" in raw
    assert "To: worker@example.com" in raw
    assert "text/html" in raw
    assert "http://127.0.0.1:8000/contracts/1/" in raw


def test_a_worker_on_the_embedded_broker_mails_once(tmp_path):
    mails_through_a_worker(tmp_path)


@pytest.mark.redis
def test_a_worker_on_redis_mails_once(tmp_path):
    mails_through_a_worker(tmp_path, REDIS_URL=os.environ["REDIS_URL"])
