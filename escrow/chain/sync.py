"""Chain sync: read MilestoneEscrow's logs from the node into the ledger, reorg-safe.

Run by the beat task ``escrow.chain_sync`` and by ``manage.py chain_sync``. A cursor per
(chain id, contract address) says which block comes next. Each run:

1. checks the node is on ``CHAIN_ID`` and finds the safe block (``head -
   CHAIN_CONFIRMATIONS``, or the node's ``finalized`` block with ``CHAIN_USE_FINALIZED``);
2. checks the blocks it read before still have the hashes it remembered, and rolls
   back what a reorg orphaned (``sync_reorg``), however deep;
3. reads the logs up to the safe block in batches that shrink when the node refuses a
   range and grow again after it answers (``sync_batch``), each applied in its own
   transaction under the cursor's row lock, so a crash or a dead node loses at most
   the batch in flight and the next run resumes at the cursor.

Logs are stored once by (chain id, tx hash, log index); a log already held is a
duplicate and writes nothing, so re-reading a range (``from_block``) is harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from escrow.chain import sync_batch
from escrow.chain.node import ESCROW_CONTRACT, ChainUnavailable, web3
from escrow.chain.sync_batch import (
    Batch,
    ChainMoved,
    ForkBelow,
    Outcome,
    Tally,
    commit_batch,
    fetch_batch,
)
from escrow.chain.sync_node import LogsTimedOut, RangeTooWide, SyncNode
from escrow.chain.sync_reorg import find_fork, roll_back_above, store_checkpoints
from escrow.chain.sync_report import ChainSyncRefused, SyncReport, WrongChain
from escrow.models import ChainCursor, ChainDeployment, ChainLog

log = logging.getLogger(__name__)

# A node whose chain keeps changing under us (or keeps lying) is given up on this run.
MAX_RETRIES = 20

__all__ = ["ChainSyncRefused", "SyncReport", "WrongChain", "sync_chain"]


Progress = Callable[[SyncReport], None]


def sync_chain(
    *,
    from_block: int | None = None,
    to_block: int | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Read the escrow contract's logs up to the safe block (or ``to_block`` if lower)
    and apply them; ``from_block`` first moves the cursor back to re-read from there.

    Raises ``ChainUnavailable`` when the node is down, times out, errs, lies or is on
    another chain (the cursor keeps the error in ``last_error``); batches committed
    before the failure stay.
    """
    started = time.monotonic()
    deployment, reason = _deployment()
    if deployment is None:
        return SyncReport(configured=False, reason=reason)
    node = SyncNode(web3(), deployment.address)
    try:
        actual = node.chain_id()
    except ChainUnavailable as error:
        _record_error(deployment, error)
        raise
    if actual != settings.CHAIN_ID:
        raise WrongChain(
            f"The node at CHAIN_RPC_URL serves chain {actual}, but CHAIN_ID is "
            f"{settings.CHAIN_ID}: nothing was read."
        )
    cursor = _cursor(deployment)
    report = SyncReport(chain_id=cursor.chain_id, address=cursor.address)
    run = _Run(node, cursor.pk, deployment.block_number - 1, report, progress, started)
    try:
        run.execute(from_block, to_block)
    except Exception as error:
        _record_error(deployment, error)
        raise
    finally:
        run.absorb()
    return report


def _deployment() -> tuple[ChainDeployment | None, str]:
    if not settings.CHAIN_RPC_URL:
        return None, "The chain rail is not configured: CHAIN_RPC_URL is empty."
    found = ChainDeployment.objects.filter(
        chain_id=settings.CHAIN_ID, contract_name=ESCROW_CONTRACT
    ).first()
    if found is None:
        return None, (
            f"No escrow contract is recorded on chain {settings.CHAIN_ID}: "
            "run `manage.py chain_deploy`."
        )
    return found, ""


def _cursor(deployment: ChainDeployment) -> ChainCursor:
    """The deployment's cursor; a new one starts at the block the contract was deployed in."""
    cursor, _ = ChainCursor.objects.get_or_create(
        chain_id=deployment.chain_id,
        address=deployment.address,
        defaults={
            "next_block": deployment.block_number,
            "batch_size": settings.CHAIN_SYNC_BATCH,
        },
    )
    return cursor


def _record_error(deployment: ChainDeployment, error: Exception) -> None:
    """Keep the error on the cursor (if there is one yet) for the admin and the pages."""
    detail = getattr(error, "detail", None) or f"{type(error).__name__}: {error}"
    try:
        ChainCursor.objects.filter(chain_id=deployment.chain_id, address=deployment.address).update(
            last_error=str(detail)[:2000]
        )
    except Exception:  # the caller's broken transaction must not hide the first error
        log.exception("could not record the chain sync error for %s", deployment)


class _Run:
    """One sync run over one cursor (see the module docstring)."""

    def __init__(
        self,
        node: SyncNode,
        cursor_id: int,
        floor: int,
        report: SyncReport,
        progress: Progress | None,
        started: float,
    ) -> None:
        self.node = node
        self.cursor_id = cursor_id
        self.floor = floor  # the block before the deployment: nothing of ours below
        self.report = report
        self.progress = progress
        self.started = started
        self.tally = Tally()
        self.unknown = 0
        # Below the narrowest range the node refused this run: growing past it again
        # would only collect another refusal every other batch.
        self.ceiling = settings.CHAIN_SYNC_BATCH

    def cursor(self) -> ChainCursor:
        return ChainCursor.objects.get(pk=self.cursor_id)

    def execute(self, from_block: int | None, to_block: int | None) -> None:
        head, end = self.bounds(to_block)
        if from_block is not None:
            self.rewind(from_block)
        self.undo_reorg()
        first = self.cursor().next_block
        self.report.from_block, self.report.blocks_total = first, max(0, end - first + 1)
        retries = 0
        while (cursor := self.cursor()).next_block <= end:
            start = cursor.next_block
            size = max(1, min(cursor.batch_size, self.ceiling))
            stop = min(end, start + size - 1)
            try:
                batch = fetch_batch(self.node, cursor, start, stop)
            except RangeTooWide as refusal:
                self.narrow(start, stop, str(refusal))
                continue
            except LogsTimedOut:
                self.narrow(start, stop, "timed out")
                raise
            except (ForkBelow, ChainMoved) as change:
                retries = self.retry(retries, str(change))
                head, end = self.bounds(to_block)
                self.undo_reorg()
                continue
            for part in sync_batch.split(batch, sync_batch.MAX_LOGS_PER_COMMIT):
                outcome = commit_batch(
                    self.cursor_id, part, self.tally, head=head, grow_to=self.ceiling
                )
                if outcome is Outcome.DONE:
                    retries = 0
                    self.done(part, first, last=part.stop == batch.stop)
                    continue
                if outcome is Outcome.REWOUND:
                    retries = self.retry(retries, "orphaned logs below the batch")
                # Outcome.STALE: another sync committed first; read on from its cursor.
                break
        ChainCursor.objects.filter(pk=self.cursor_id).update(
            head_block=head, last_synced_at=timezone.now(), last_error=""
        )

    def bounds(self, to_block: int | None) -> tuple[int, int]:
        """The node's head and the last block this run may read."""
        head = self.node.block_number("latest")
        if head is None:
            raise ChainUnavailable("The Ethereum node has no latest block.")
        safe = head - settings.CHAIN_CONFIRMATIONS
        if settings.CHAIN_USE_FINALIZED:
            finalized = self.node.finalized_block()
            if finalized is not None:
                safe = min(finalized, head)
        self.report.head, self.report.safe_block = head, safe
        end = safe if to_block is None else min(safe, to_block)
        self.report.to_block = end
        return head, end

    def rewind(self, from_block: int) -> None:
        """Move the cursor back to ``from_block`` (never before the deployment)."""
        with transaction.atomic():
            cursor = ChainCursor.objects.select_for_update().get(pk=self.cursor_id)
            target = max(from_block, self.floor + 1)
            if target > cursor.next_block:
                raise ChainSyncRefused(
                    f"Block {from_block} is ahead of the cursor (next block "
                    f"{cursor.next_block}): reading from there would skip blocks."
                )
            cursor.next_block = target
            cursor.save(update_fields=["next_block", "updated_at"])

    def undo_reorg(self) -> None:
        """Roll back what a reorg orphaned and move the cursor to the fork."""
        cursor = self.cursor()
        fork = find_fork(self.node, cursor, floor=self.floor)
        if fork is None:
            return
        fork_hash = self.node.block_hash(fork) if fork >= 0 else None
        with transaction.atomic():
            locked = ChainCursor.objects.select_for_update().get(pk=self.cursor_id)
            if locked.next_block != cursor.next_block:
                return  # another sync moved the cursor meanwhile; the loop checks again
            rolled_back = roll_back_above(locked, fork)
            locked.next_block = min(locked.next_block, fork + 1)
            if fork_hash is not None:
                store_checkpoints(locked, {fork: fork_hash})
            locked.save(update_fields=["next_block", "updated_at"])
        self.tally.rolled_back += rolled_back
        self.tally.reorgs += 1
        log.warning(
            "chain %s: reorg below block %s; rolled back %s log(s), reading again from %s",
            cursor.chain_id,
            cursor.next_block,
            rolled_back,
            fork + 1,
        )

    def narrow(self, start: int, stop: int, why: str) -> None:
        """Halve the batch after the node refused ``[start, stop]``."""
        span = stop - start + 1
        if span <= 1:
            raise ChainUnavailable(
                f"The Ethereum node refuses eth_getLogs even for block {start} alone: {why}."
            )
        self.ceiling = min(self.ceiling, span - 1)
        ChainCursor.objects.filter(pk=self.cursor_id).update(batch_size=span // 2)
        log.info("chain sync: node refused %s blocks (%s); trying %s", span, why, span // 2)

    def retry(self, retries: int, why: str) -> int:
        if retries + 1 >= MAX_RETRIES:
            raise ChainUnavailable(
                f"The node's chain kept changing while it was read ({why}); try again later."
            )
        return retries + 1

    def done(self, batch: Batch, first: int, *, last: bool) -> None:
        self.report.batches += last  # a batch committed in parts counts once
        self.report.logs_seen += batch.seen
        self.unknown += batch.unknown
        self.report.blocks_done = max(0, batch.stop + 1 - first)
        self.absorb()
        if self.progress is not None:
            self.progress(self.report)

    def absorb(self) -> None:
        """Copy the tally into the report."""
        statuses = self.tally.statuses
        self.report.applied = statuses[ChainLog.Status.APPLIED]
        self.report.ignored = statuses[ChainLog.Status.IGNORED] + self.unknown
        self.report.failed = statuses[ChainLog.Status.FAILED]
        self.report.duplicates = self.tally.duplicates
        self.report.rolled_back = self.tally.rolled_back
        self.report.reorgs = self.tally.reorgs
        self.report.seconds = time.monotonic() - self.started
