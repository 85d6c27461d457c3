"""Escrow's periodic tasks: settlement, reconciliation, weekly payouts (thin, STYLE.md).

Each periodic task holds a lock in the shared cache while it runs. Beat fires
settlement every minute and a slow run would overlap the next one, and a
second beat process (a deploy overlap, a mis-scaled service) fires every task
twice. The services are idempotent by key, so money would not move twice, but
two overlapping runs would still race for the same rows, call the provider
twice at once and send reminders twice; the lock makes the second run a no-op.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from celery import shared_task
from django.core.cache import cache

# The imports marked F401 register tasks defined next to the code they drive:
# Celery's autodiscovery imports only ``escrow.tasks``.
from escrow.rails.events import deliver_sandbox_event  # noqa: F401
from escrow.services import payouts, reconciliation, refunds, release, webhooks
from escrow.tasks_arbiter import (  # noqa: F401
    send_chain_transaction_task,
    track_chain_transactions_task,
)
from escrow.tasks_chain import chain_sync_task  # noqa: F401
from escrow.tasks_payouts import send_payout_task  # noqa: F401
from escrow.tasks_refunds import send_card_refund_task  # noqa: F401

log = logging.getLogger(__name__)

SETTLE_TIME_LIMIT = 300
RECONCILE_TIME_LIMIT = 900
AUTO_PAYOUTS_TIME_LIMIT = 900


@contextmanager
def single_run(name: str, timeout: int) -> Iterator[bool]:
    """Yield True to the one caller that holds ``name``'s lock, False to any other.

    ``cache.add`` is atomic on Redis (SET NX) and on the local-memory cache of the
    embedded default's single worker. The lock expires with the task's time
    limit, so a worker killed mid-run cannot block the task for good; the token
    stops a run that outlived its lock from deleting its successor's.
    """
    key = f"escrow:periodic-lock:{name}"
    token = uuid.uuid4().hex
    acquired = cache.add(key, token, timeout)
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)


# --- settlement -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[datetime | None], int]
    says: str  # what the count means: "auto-release: 3 milestones released"


SETTLEMENT_STEPS = (
    Step("auto-release", lambda now: release.auto_release_due(now=now), "milestone(s) released"),
    Step(
        "review reminders",
        lambda now: release.send_review_reminders(now=now),
        "reminder(s) sent to clients",
    ),
    Step(
        "payout hold",
        lambda now: release.make_releases_available(now=now),
        "release(s) made available to pay out",
    ),
    Step(
        "refund requests",
        lambda now: refunds.accept_lapsed_refund_requests(now=now),
        "unanswered request(s) accepted",
    ),
    Step("card refunds", lambda now: refunds.retry_due_refunds(now=now), "refund(s) retried"),
    Step("payouts", lambda now: payouts.retry_due_payouts(now=now), "payout(s) retried"),
    Step(
        "webhook events",
        lambda now: webhooks.retry_failed_events(now=now),
        "event(s) processed again",
    ),
)


@dataclass(frozen=True)
class StepResult:
    step: Step
    count: int = 0
    error: str = ""

    def __str__(self) -> str:
        if self.error:
            return f"{self.step.name}: FAILED ({self.error})"
        return f"{self.step.name}: {self.count} {self.step.says}"


def run_settlement(
    *, now: datetime | None = None, on_step: Callable[[StepResult], None] | None = None
) -> list[StepResult]:
    """Every settlement step in order; one failing step does not stop the others."""
    results = []
    for step in SETTLEMENT_STEPS:
        try:
            result = StepResult(step, count=step.run(now))
        except Exception as error:  # the next step must still run
            log.exception("settlement step %s failed", step.name)
            result = StepResult(step, error=f"{type(error).__name__}: {error}")
        else:
            # Every minute: only steps that did something are worth a line in the log.
            log.log(logging.INFO if result.count else logging.DEBUG, "settlement %s", result)
        results.append(result)
        if on_step is not None:
            on_step(result)
    return results


@shared_task(
    name="escrow.settle", time_limit=SETTLE_TIME_LIMIT, soft_time_limit=SETTLE_TIME_LIMIT - 30
)
def settle() -> dict[str, int] | None:
    """Beat, every minute. Returns each step's count (-1 for a failed step), or None
    when another run holds the lock."""
    with single_run("settle", SETTLE_TIME_LIMIT) as acquired:
        if not acquired:
            log.info("settlement skipped: another run holds the lock")
            return None
        return {r.step.name: -1 if r.error else r.count for r in run_settlement()}


# --- reconciliation and weekly payouts ----------------------------------------------------------


@shared_task(
    name="escrow.reconcile",
    time_limit=RECONCILE_TIME_LIMIT,
    soft_time_limit=RECONCILE_TIME_LIMIT - 30,
)
def reconcile() -> int | None:
    """Beat, hourly. Returns the report's id, or None when another run holds the lock."""
    with single_run("reconcile", RECONCILE_TIME_LIMIT) as acquired:
        if not acquired:
            log.info("reconciliation skipped: another run holds the lock")
            return None
        report = reconciliation.reconcile()
        log.info("reconciliation %s: %s", report.pk, "ok" if report.ok else "problems found")
        return report.pk


@shared_task(
    name="escrow.auto_payouts_weekly",
    time_limit=AUTO_PAYOUTS_TIME_LIMIT,
    soft_time_limit=AUTO_PAYOUTS_TIME_LIMIT - 30,
)
def run_auto_payouts() -> int | None:
    """Beat, Mondays 06:00 UTC. Returns how many payouts were requested, or None when
    another run holds the lock."""
    with single_run("auto-payouts", AUTO_PAYOUTS_TIME_LIMIT) as acquired:
        if not acquired:
            log.info("automatic payouts skipped: another run holds the lock")
            return None
        created = payouts.run_auto_payouts()
        log.info("automatic payouts: %s requested", created)
        return created
