"""Escrow's periodic tasks: settlement, reconciliation, weekly payouts (thin, STYLE.md).

Each runs through ``smartpay.periodic.run_periodic``: one run at a time (a second
beat or a slow run overlapping the next finds the lock taken and does nothing),
a log line of what it did, and a record of its last success for ``/readyz`` and
the admin. The lock and record names are the beat entries' names
(``smartpay.schedule``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from celery import shared_task

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
from smartpay.periodic import describe_counts, run_periodic

log = logging.getLogger(__name__)

SETTLE_TIME_LIMIT = 300
RECONCILE_TIME_LIMIT = 900
AUTO_PAYOUTS_TIME_LIMIT = 900


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
    return run_periodic(
        "escrow-settle",
        lambda: {r.step.name: -1 if r.error else r.count for r in run_settlement()},
        time_limit=SETTLE_TIME_LIMIT,
        describe=describe_counts,
    )


# --- reconciliation and weekly payouts ----------------------------------------------------------


@shared_task(
    name="escrow.reconcile",
    time_limit=RECONCILE_TIME_LIMIT,
    soft_time_limit=RECONCILE_TIME_LIMIT - 30,
)
def reconcile() -> int | None:
    """Beat, hourly. Returns the report's id, or None when another run holds the lock."""

    def work() -> tuple[int, bool]:
        report = reconciliation.reconcile()
        return report.pk, report.ok

    outcome = run_periodic(
        "escrow-reconcile",
        work,
        time_limit=RECONCILE_TIME_LIMIT,
        describe=lambda r: f"report {r[0]}: {'ok' if r[1] else 'problems found'}",
    )
    return outcome[0] if outcome is not None else None


@shared_task(
    name="escrow.auto_payouts_weekly",
    time_limit=AUTO_PAYOUTS_TIME_LIMIT,
    soft_time_limit=AUTO_PAYOUTS_TIME_LIMIT - 30,
)
def run_auto_payouts() -> int | None:
    """Beat, Mondays 06:00 UTC. Returns how many payouts were requested, or None when
    another run holds the lock."""
    return run_periodic(
        "escrow-auto-payouts",
        payouts.run_auto_payouts,
        time_limit=AUTO_PAYOUTS_TIME_LIMIT,
        describe=lambda created: f"{created} payout(s) requested",
    )
