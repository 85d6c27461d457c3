"""The platform's beat schedule, as django-celery-beat rows (the DatabaseScheduler reads
them, and staff edit them in the admin under Periodic tasks).

``ensure_periodic_tasks`` is idempotent: run it on every deploy (``manage.py
beat_schedule``; ``make run`` and the compose ``migrate`` job do). It creates missing
rows and corrects a changed schedule, but leaves a task staff disabled in the admin
disabled. Each entry's name is also the name its task records its runs under
(``smartpay.periodic.run_periodic``), and ``stale_after`` says when a task that has
not succeeded for that long is overdue (``/readyz``, the admin, ``/metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from smartpay.models import PeriodicRun


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    description: str
    every_seconds: int | None = None
    crontab: dict[str, str] = field(default_factory=dict)
    # A message still queued this long after beat sent it is dropped: the next
    # tick does the same work, so a worker outage doesn't end in a burst of runs.
    expire_seconds: int | None = None
    # No success for this long means the task is overdue (beat or the worker is down,
    # or every run fails): a few missed ticks, not one.
    stale_after: timedelta = timedelta(minutes=10)


ENTRIES = (
    Entry(
        name="escrow-settle",
        task="escrow.settle",
        description=(
            "Settlement: auto-release after the review window, reminders, payout hold, "
            "lapsed refund requests, retries of refunds, payouts and webhook events."
        ),
        every_seconds=60,
        expire_seconds=55,
    ),
    Entry(
        name="escrow-reconcile",
        task="escrow.reconcile",
        description="Reconciliation: ledger invariants and the card rail against the provider.",
        crontab={"minute": "0", "hour": "*"},
        expire_seconds=50 * 60,
        stale_after=timedelta(hours=3),
    ),
    Entry(
        name="escrow-auto-payouts",
        task="escrow.auto_payouts_weekly",
        description="Weekly automatic payouts of whole available balances (Mondays 06:00 UTC).",
        crontab={"minute": "0", "hour": "6", "day_of_week": "1"},
        expire_seconds=12 * 3600,
        stale_after=timedelta(days=8),
    ),
    Entry(
        name="escrow-chain-sync",
        task="escrow.chain_sync",
        description="Chain sync: read escrow contract logs into the ledger, reorg-safe.",
        every_seconds=settings.CHAIN_SYNC_INTERVAL_SECONDS,
        expire_seconds=max(1, settings.CHAIN_SYNC_INTERVAL_SECONDS - 1),
    ),
    Entry(
        name="escrow-chain-transactions",
        task="escrow.track_chain_transactions",
        description=(
            "Arbiter transactions: send queued and due ones, follow sent ones to confirmation."
        ),
        every_seconds=10,
        expire_seconds=9,
    ),
    Entry(
        name="disputes-settle",
        task="disputes.settle",
        description=(
            "Dispute deadlines: response reminders, silence resolves lapsed disputes as their "
            "opener asked, chain-rail resolutions closed once chain sync applied them."
        ),
        every_seconds=60,
        expire_seconds=55,
    ),
    Entry(
        name="notifications-message-digests",
        task="notifications.send_message_digests",
        description=(
            "Chat digests: one e-mail per away member listing the conversations with unread "
            "messages (not one mail per message)."
        ),
        every_seconds=300,
        expire_seconds=290,
        stale_after=timedelta(minutes=30),
    ),
    Entry(
        name="smartpay-backup",
        task="smartpay.backup",
        description=(
            "Nightly backup of the database to the backups storage (checksummed), then "
            "retention: BACKUP_KEEP_DAILY daily and BACKUP_KEEP_WEEKLY weekly copies."
        ),
        crontab={"minute": "30", "hour": "2"},
        expire_seconds=6 * 3600,
        stale_after=timedelta(hours=26),
    ),
    Entry(
        name="smartpay-cleanup",
        task="smartpay.cleanup",
        description=(
            "Cleanup: expired sessions, sign-in nonces and idempotency keys past their retention."
        ),
        crontab={"minute": "15", "hour": "3"},
        expire_seconds=6 * 3600,
        stale_after=timedelta(hours=26),
    ),
)
BY_NAME = {entry.name: entry for entry in ENTRIES}


def _interval(seconds: int) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    return schedule


def _crontab(fields: dict[str, str]) -> CrontabSchedule:
    lookup = {
        "minute": "*",
        "hour": "*",
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        **fields,
    }
    # No unique constraint backs these rows: reuse the oldest identical one.
    found = CrontabSchedule.objects.filter(timezone="UTC", **lookup).order_by("pk").first()
    return found or CrontabSchedule.objects.create(timezone="UTC", **lookup)


@transaction.atomic
def ensure_periodic_tasks() -> list[tuple[str, str]]:
    """Create or correct the periodic tasks; returns (name, "created" / "updated" /
    "unchanged") for each. Each also gets its run record, so a task that never ran
    becomes overdue ``stale_after`` from now."""
    outcomes = []
    for entry in ENTRIES:
        PeriodicRun.objects.get_or_create(name=entry.name)
        wanted: dict[str, object] = {
            "task": entry.task,
            "description": entry.description,
            "expire_seconds": entry.expire_seconds,
            "interval": _interval(entry.every_seconds) if entry.every_seconds else None,
            "crontab": _crontab(entry.crontab) if entry.crontab else None,
            "solar": None,
            "clocked": None,
        }
        row = PeriodicTask.objects.select_for_update().filter(name=entry.name).first()
        if row is None:
            PeriodicTask.objects.create(name=entry.name, enabled=True, **wanted)
            outcomes.append((entry.name, "created"))
            continue
        stale = {key: value for key, value in wanted.items() if getattr(row, key) != value}
        if stale:
            for key, value in stale.items():
                setattr(row, key, value)
            row.save()  # saving also tells a running beat to reload its schedule
            outcomes.append((entry.name, "updated"))
        else:
            outcomes.append((entry.name, "unchanged"))
    return outcomes


@dataclass(frozen=True)
class TaskHealth:
    name: str
    enabled: bool
    last_success_at: datetime | None
    overdue: bool

    def as_json(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "overdue": self.overdue,
        }


def is_overdue(run: PeriodicRun, *, enabled: bool, now: datetime) -> bool:
    """No success (or, never run, no record) for longer than the entry allows. A task
    staff disabled, or one no entry schedules, is never overdue."""
    entry = BY_NAME.get(run.name)
    since = run.last_success_at or run.created_at
    return bool(entry and enabled and now - since > entry.stale_after)


def task_health(*, now: datetime | None = None) -> list[TaskHealth]:
    """Each scheduled task's last success and whether it is overdue (two queries). A
    task staff disabled is never overdue; one that never succeeded counts from when
    its record was created."""
    now = now or timezone.now()
    enabled = dict(PeriodicTask.objects.filter(name__in=BY_NAME).values_list("name", "enabled"))
    runs = {run.name: run for run in PeriodicRun.objects.filter(name__in=BY_NAME)}
    health = []
    for entry in ENTRIES:
        run = runs.get(entry.name)
        is_enabled = enabled.get(entry.name, False)
        overdue = run is not None and is_overdue(run, enabled=is_enabled, now=now)
        health.append(
            TaskHealth(
                name=entry.name,
                enabled=is_enabled,
                last_success_at=run.last_success_at if run is not None else None,
                overdue=overdue,
            )
        )
    return health
