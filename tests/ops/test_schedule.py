"""The beat schedule (rows in django-celery-beat, editable in the admin), one run at a
time per periodic task, the record of each task's runs, /readyz and the cleanup task."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from marketplace.models import SiweNonce
from smartpay import cleanup
from smartpay import tasks as platform_tasks
from smartpay.celery import app as celery_app
from smartpay.models import IdempotencyKey, PeriodicRun
from smartpay.periodic import run_periodic
from smartpay.schedule import BY_NAME, ENTRIES, ensure_periodic_tasks, task_health
from tests.factories import verified_user
from tests.helpers import ROOT
from tests.totp import signed_in_with_mfa

WAIT = 10


# --- the schedule ------------------------------------------------------------------------


@pytest.mark.django_db
def test_schedule_is_created_once_and_then_left_as_it_is():
    assert [outcome for _, outcome in ensure_periodic_tasks()] == ["created"] * len(ENTRIES)
    assert [outcome for _, outcome in ensure_periodic_tasks()] == ["unchanged"] * len(ENTRIES)
    assert PeriodicTask.objects.count() == len(ENTRIES) == 9
    assert set(PeriodicRun.objects.values_list("name", flat=True)) == set(BY_NAME)
    settle = PeriodicTask.objects.get(name="escrow-settle")
    assert settle.task == "escrow.settle"
    assert settle.interval is not None
    assert (settle.interval.every, settle.interval.period) == (60, IntervalSchedule.SECONDS)
    reconcile = PeriodicTask.objects.get(name="escrow-reconcile")
    assert reconcile.crontab is not None
    assert (reconcile.crontab.minute, reconcile.crontab.hour) == ("0", "*")
    weekly = PeriodicTask.objects.get(name="escrow-auto-payouts")
    assert weekly.task == "escrow.auto_payouts_weekly"
    assert weekly.crontab is not None
    assert (weekly.crontab.minute, weekly.crontab.hour, weekly.crontab.day_of_week) == (
        "0",
        "6",
        "1",
    )
    assert str(weekly.crontab.timezone) == "UTC"
    backup = PeriodicTask.objects.get(name="smartpay-backup")
    assert backup.task == "smartpay.backup"
    assert backup.crontab is not None
    assert (backup.crontab.minute, backup.crontab.hour) == ("30", "2")
    digests = PeriodicTask.objects.get(name="notifications-message-digests")
    assert digests.interval is not None
    assert digests.interval.every == 300
    assert PeriodicTask.objects.get(name="smartpay-cleanup").task == "smartpay.cleanup"
    assert CrontabSchedule.objects.count() == 4


@pytest.mark.django_db
def test_schedule_corrects_a_changed_row_but_keeps_it_disabled_if_staff_said_so():
    ensure_periodic_tasks()
    hourly = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.filter(name="escrow-settle").update(interval=hourly, enabled=False)
    outcomes = dict(ensure_periodic_tasks())
    assert outcomes["escrow-settle"] == "updated"
    settle = PeriodicTask.objects.get(name="escrow-settle")
    assert settle.interval is not None
    assert settle.interval.every == 60
    assert settle.enabled is False


def test_every_scheduled_task_exists_with_time_limits():
    celery_app.loader.import_default_modules()
    for entry in ENTRIES:
        task = celery_app.tasks[entry.task]
        assert task.time_limit, entry.task
        assert task.soft_time_limit, entry.task
        assert task.soft_time_limit < task.time_limit, entry.task
        # A message older than its next tick is dropped rather than run late.
        assert entry.expire_seconds
        assert entry.stale_after > timedelta(seconds=entry.every_seconds or 0)


@pytest.mark.django_db
def test_beat_schedule_command_says_what_it_did(capsys):
    call_command("beat_schedule")
    out = capsys.readouterr().out
    assert "escrow-settle: created" in out
    assert "smartpay-backup: created" in out
    assert "9 periodic tasks are scheduled." in out
    call_command("beat_schedule")
    assert "escrow-reconcile: unchanged" in capsys.readouterr().out


# --- one run at a time, on the record ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_same_task_started_twice_at_once_acts_once(monkeypatch):
    """Two workers pick up the cleanup at the same moment: one cleans, one records an
    overlap and does nothing."""
    entered, gate = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow_cleanup(**_: Any) -> dict[str, int]:
        calls.append(threading.current_thread().name)
        entered.set()
        assert gate.wait(WAIT)
        return {"sessions": 2}

    monkeypatch.setattr(cleanup, "remove_expired", slow_cleanup)
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(first=platform_tasks.clean_up()))
    second = threading.Thread(target=lambda: results.update(second=platform_tasks.clean_up()))
    first.start()
    assert entered.wait(WAIT)
    second.start()
    second.join(WAIT)
    assert not second.is_alive()  # it did not wait for the first
    gate.set()
    first.join(WAIT)

    assert len(calls) == 1
    assert results == {"first": {"sessions": 2}, "second": None}
    record = PeriodicRun.objects.get(name="smartpay-cleanup")
    assert (record.runs, record.skipped_overlaps, record.failures) == (1, 1, 0)
    assert record.last_summary == "sessions 2"
    assert record.last_success_at is not None
    assert record.last_duration_ms is not None


OVERLAP_SCRIPT = """
import django, json, sys, time
django.setup()
from smartpay.periodic import run_periodic
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # both processes start the task on the same signal
outcome = run_periodic("demo-overlap", lambda: time.sleep(1.5) or "slept", time_limit=30)
print(json.dumps(outcome))
"""


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_processes_starting_the_same_task_at_once_act_once():
    """As two beat processes would: separate processes, one Redis, one database."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "smartpay.settings",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", OVERLAP_SCRIPT],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = sorted(worker.communicate(timeout=60)[0].strip() for worker in workers)
    assert outputs == ['"slept"', "null"]
    record = PeriodicRun.objects.get(name="demo-overlap")
    assert (record.runs, record.skipped_overlaps) == (1, 1)


@pytest.mark.django_db
def test_a_failed_run_is_recorded_with_its_error_and_raised():
    def broken() -> str:
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        run_periodic("demo-broken", broken, time_limit=30)
    record = PeriodicRun.objects.get(name="demo-broken")
    assert (record.runs, record.failures) == (1, 1)
    assert record.last_error == "RuntimeError: the disk is full"
    assert record.last_success_at is None
    # The lock went with the run: the next one goes ahead and succeeds.
    assert run_periodic("demo-broken", lambda: "fixed", time_limit=30) == "fixed"
    record.refresh_from_db()
    assert record.last_summary == "fixed"
    assert record.last_failure_at is not None  # the earlier failure stays on the record


@pytest.mark.django_db
def test_a_run_with_nothing_to_do_says_so():
    run_periodic("demo-idle", lambda: {"released": 0}, time_limit=30, describe=lambda _: "")
    assert PeriodicRun.objects.get(name="demo-idle").last_summary == "nothing to do"


# --- overdue, in /readyz and the admin -----------------------------------------------------


@pytest.mark.django_db
def test_health_marks_tasks_overdue_only_past_their_allowance():
    ensure_periodic_tasks()
    now = timezone.now()
    assert not any(task.overdue for task in task_health(now=now))  # just scheduled
    PeriodicRun.objects.filter(name="escrow-settle").update(last_success_at=now)
    later = now + timedelta(hours=2)
    overdue = {task.name for task in task_health(now=later) if task.overdue}
    # Two hours without a run: the minute-by-minute tasks are overdue, hourly
    # reconciliation, the nightly backup and the weekly payouts are not.
    assert "escrow-settle" in overdue
    assert "disputes-settle" in overdue
    assert not overdue & {"escrow-reconcile", "smartpay-backup", "escrow-auto-payouts"}
    PeriodicTask.objects.filter(name="escrow-settle").update(enabled=False)
    assert "escrow-settle" not in {t.name for t in task_health(now=later) if t.overdue}


@pytest.mark.django_db
def test_readyz_lists_periodic_tasks_and_stays_ready_when_one_is_overdue(client):
    ensure_periodic_tasks()
    long_ago = timezone.now() - timedelta(days=2)
    PeriodicRun.objects.filter(name="escrow-settle").update(
        last_success_at=long_ago, created_at=long_ago
    )
    PeriodicRun.objects.exclude(name="escrow-settle").update(last_success_at=timezone.now())
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ready"
    periodic = body["periodic"]
    assert periodic["ok"] is False
    assert periodic["overdue"] == ["escrow-settle"]
    assert periodic["tasks"]["escrow-settle"]["last_success_at"] == long_ago.isoformat()
    assert periodic["tasks"]["escrow-reconcile"]["overdue"] is False
    assert set(periodic["tasks"]) == set(BY_NAME)


@pytest.mark.django_db
def test_the_admin_shows_each_task_state_in_words(settings):
    ensure_periodic_tasks()
    PeriodicRun.objects.filter(name="escrow-reconcile").update(
        last_success_at=timezone.now(), last_summary="report 4: ok", runs=3
    )
    long_ago = timezone.now() - timedelta(days=2)
    PeriodicRun.objects.filter(name="escrow-settle").update(created_at=long_ago)
    PeriodicTask.objects.filter(name="smartpay-cleanup").update(enabled=False)
    console = signed_in_with_mfa(verified_user(is_staff=True, is_superuser=True))
    page = console.get(reverse("admin:smartpay_periodicrun_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "On time" in text
    assert "report 4: ok" in text
    assert "Overdue: no success for longer than expected" in text
    assert "Disabled" in text
    assert "Waiting for its first run" in text
    assert "edit schedule" in text
    assert console.get(reverse("admin:smartpay_periodicrun_add")).status_code == 403


# --- cleanup ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_cleanup_removes_what_expired_and_keeps_the_rest(user):
    now = timezone.now()
    live, expired = SessionStore(), SessionStore()
    live.create()
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=now - timedelta(minutes=1)
    )
    SiweNonce.objects.create(nonce="old", expires_at=now - timedelta(days=2))
    SiweNonce.objects.create(nonce="fresh", expires_at=now + timedelta(minutes=5))
    old_key = IdempotencyKey.objects.create(
        user=user, key="k-old", method="POST", path="/x", request_hash="0" * 64
    )
    IdempotencyKey.objects.filter(pk=old_key.pk).update(created_at=now - timedelta(days=2))
    IdempotencyKey.objects.create(
        user=user, key="k-new", method="POST", path="/x", request_hash="0" * 64
    )

    assert platform_tasks.clean_up() == {
        "sessions": 1,
        "sign-in nonces": 1,
        "idempotency keys": 1,
    }
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert list(SiweNonce.objects.values_list("nonce", flat=True)) == ["fresh"]
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-new"]
    assert PeriodicRun.objects.get(name="smartpay-cleanup").last_summary == (
        "sessions 1, sign-in nonces 1, idempotency keys 1"
    )
    # Run again: nothing left to do, and it says so.
    assert platform_tasks.clean_up() == dict.fromkeys(
        ["sessions", "sign-in nonces", "idempotency keys"], 0
    )
    assert PeriodicRun.objects.get(name="smartpay-cleanup").last_summary == "nothing to do"


def test_a_lock_is_per_task(db):
    """While one task runs, another task is not held up by its lock, and the same task
    started inside itself finds its own lock taken."""
    inner: list[str | None] = []

    def outer_work() -> str:
        inner.append(run_periodic("demo-b", lambda: "b", time_limit=30))
        inner.append(run_periodic("demo-a", lambda: "again", time_limit=30))
        return "a"

    assert run_periodic("demo-a", outer_work, time_limit=30) == "a"
    assert inner == ["b", None]
