"""Disputes' periodic task (thin, STYLE.md): reminders, silence, decisions whose appeal
window lapsed, chain resolutions."""

from __future__ import annotations

import logging

from celery import shared_task

from disputes.services import close_chain_resolutions, execute_due_decisions
from disputes.services.deadlines import remind_due_responses, settle_lapsed_disputes

log = logging.getLogger(__name__)

SETTLE_TIME_LIMIT = 300


@shared_task(
    name="disputes.settle", time_limit=SETTLE_TIME_LIMIT, soft_time_limit=SETTLE_TIME_LIMIT - 30
)
def settle() -> dict[str, int] | None:
    """Beat, every minute. Returns each step's count, or None when another run holds
    the lock."""
    from escrow.tasks import single_run

    with single_run("disputes-settle", SETTLE_TIME_LIMIT) as acquired:
        if not acquired:
            log.info("dispute deadlines skipped: another run holds the lock")
            return None
        counts = {
            "reminders": remind_due_responses(),
            "resolved by silence": settle_lapsed_disputes(),
            "decisions executed": execute_due_decisions(),
            "chain resolutions closed": close_chain_resolutions(),
        }
        if any(counts.values()):
            log.info("dispute deadlines: %s", counts)
        return counts
