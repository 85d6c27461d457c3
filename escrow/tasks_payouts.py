"""The payout task: a thin wrapper over ``send_payout`` (STYLE.md).

Retries of due, failed and interrupted payouts run in the settlement task
(``escrow.tasks.settle`` -> ``payouts.retry_due_payouts``).
"""

from celery import shared_task

from escrow.services.payouts import send_payout


# Safe to repeat, so acks_late: the conditional UPDATE lets one worker claim the
# payout, and the provider call carries the payout's idempotency key.
@shared_task(name="escrow.send_payout", time_limit=120, soft_time_limit=100, acks_late=True)
def send_payout_task(payout_id: int) -> str:
    """Make the provider Transfer for one payout; returns its status."""
    return send_payout(payout_id=payout_id).status
