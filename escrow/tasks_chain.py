"""The chain sync task: a thin wrapper over ``sync_chain`` (STYLE.md).

Beat fires it every ``CHAIN_SYNC_INTERVAL_SECONDS``. ``run_periodic``'s lock keeps a
second beat (or a slow run) from starting another sync beside it; correctness does not
depend on it, since each batch commits under the cursor's row lock.
"""

from __future__ import annotations

import logging

from celery import shared_task

from escrow.chain.node import ChainUnavailable
from escrow.chain.sync import sync_chain
from smartpay.errors import DomainError
from smartpay.periodic import describe_counts, run_periodic

log = logging.getLogger(__name__)

CHAIN_SYNC_TIME_LIMIT = 300


@shared_task(
    name="escrow.chain_sync",
    time_limit=CHAIN_SYNC_TIME_LIMIT,
    soft_time_limit=CHAIN_SYNC_TIME_LIMIT - 30,
)
def chain_sync_task() -> dict[str, int] | None:
    """Returns the run's counts; None when another run holds the lock, the chain rail
    is not configured, or the node is unavailable (logged; the next tick retries)."""
    return run_periodic(
        "escrow-chain-sync",
        _sync,
        time_limit=CHAIN_SYNC_TIME_LIMIT,
        # Batches are read every few seconds; a run that found no logs is not news.
        describe=lambda counts: describe_counts(
            {name: n for name, n in (counts or {}).items() if name != "batches"}
        ),
    )


def _sync() -> dict[str, int] | None:
    try:
        report = sync_chain()
    except ChainUnavailable as error:
        log.warning("chain sync: %s", error.detail)
        return None
    except DomainError as error:
        # A reorg that cannot be rolled back (the money already left by another
        # route): sync stops at the cursor, with the error on it, until staff act.
        # Raised, so the run is recorded as failed and the task becomes overdue.
        log.error("chain sync stopped, staff must act: %s", error.detail)
        raise
    if not report.configured:
        log.debug("chain sync skipped: %s", report.reason)
        return None
    counts = report.counts()
    level = logging.INFO if report.logs_seen or report.reorgs else logging.DEBUG
    log.log(
        level,
        "chain sync: blocks %s-%s, %s",
        report.from_block,
        report.to_block,
        ", ".join(f"{name} {value}" for name, value in counts.items()),
    )
    return counts
