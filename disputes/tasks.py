"""Disputes' periodic task (thin, STYLE.md): reminders, silence, decisions whose appeal
window lapsed, chain resolutions."""

from __future__ import annotations

import logging

from celery import shared_task

from disputes.services import close_chain_resolutions, execute_due_decisions
from disputes.services.deadlines import remind_due_responses, settle_lapsed_disputes
from smartpay.periodic import describe_counts, run_periodic

log = logging.getLogger(__name__)

SETTLE_TIME_LIMIT = 300


@shared_task(
    name="disputes.settle", time_limit=SETTLE_TIME_LIMIT, soft_time_limit=SETTLE_TIME_LIMIT - 30
)
def settle() -> dict[str, int] | None:
    """Beat, every minute. Returns each step's count, or None when another run holds
    the lock."""
    return run_periodic(
        "disputes-settle", _settle, time_limit=SETTLE_TIME_LIMIT, describe=describe_counts
    )


def _settle() -> dict[str, int]:
    return {
        "reminders": remind_due_responses(),
        "resolved by silence": settle_lapsed_disputes(),
        "decisions executed": execute_due_decisions(),
        "chain resolutions closed": close_chain_resolutions(),
    }
