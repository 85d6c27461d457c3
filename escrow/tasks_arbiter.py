"""Platform-key transactions on the chain rail: thin tasks over ``escrow.chain.arbiter``.

``escrow.send_chain_transaction`` sends one queued row (enqueued on commit by
``resolve_on_chain``); ``escrow.track_chain_transactions`` (beat) follows sent rows to
confirmation and sends queued rows whose task was lost or whose retry is due.
"""

from __future__ import annotations

import logging

from celery import shared_task

from escrow.chain.arbiter_send import send_chain_transaction
from escrow.chain.arbiter_track import track_chain_transactions
from smartpay.periodic import describe_counts, run_periodic

log = logging.getLogger(__name__)

SEND_TIME_LIMIT = 90  # below arbiter_send.LEASE, so a killed send frees its row in time
TRACK_TIME_LIMIT = 120


# Safe to repeat, so acks_late: the conditional UPDATE lets one worker claim the row,
# and a retry asks the node for the stored hash before it signs anything new.
@shared_task(
    name="escrow.send_chain_transaction",
    time_limit=SEND_TIME_LIMIT,
    soft_time_limit=SEND_TIME_LIMIT - 15,
    acks_late=True,
)
def send_chain_transaction_task(tx_id: int) -> str:
    """Sign and broadcast one queued platform-key transaction; returns its status."""
    return send_chain_transaction(tx_id).status


@shared_task(
    name="escrow.track_chain_transactions",
    time_limit=TRACK_TIME_LIMIT,
    soft_time_limit=TRACK_TIME_LIMIT - 20,
)
def track_chain_transactions_task() -> dict[str, int] | None:
    """Beat. Returns what happened to the rows, or None when another run holds the lock."""

    def work() -> dict[str, int]:
        result = track_chain_transactions()
        if result.error:
            log.warning("chain transactions: %s", result.error)
        return result.counts

    return run_periodic(
        "escrow-chain-transactions",
        work,
        time_limit=TRACK_TIME_LIMIT,
        describe=describe_counts,
    )
