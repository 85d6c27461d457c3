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
    # Imported here: escrow.tasks imports this module to register its tasks.
    from escrow.tasks import single_run

    with single_run("track-chain-transactions", TRACK_TIME_LIMIT) as acquired:
        if not acquired:
            log.info("chain transaction tracking skipped: another run holds the lock")
            return None
        result = track_chain_transactions()
        if result.counts or result.error:
            log.info("chain transactions: %s %s", result.counts, result.error)
        return result.counts
