"""Reorgs: notice that blocks chain sync has read are no longer on the node's chain, and
undo what their logs did.

Sync remembers block hashes in two places: a ``ChainCheckpoint`` for the last block of
every batch and every block that had logs (pruned to the newest ``KEEP_CHECKPOINTS``),
and the ``block_hash`` of every live ``ChainLog``. Hashes chain, so if the newest
remembered block still has the node's hash, everything below it does too; if not,
walking the remembered hashes newest first finds the newest block both chains share.
Everything sync applied above it is rolled back, newest first, and read again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db.models import QuerySet

from escrow.chain.apply import rollback_log
from escrow.chain.sync_node import SyncNode
from escrow.models import ChainCheckpoint, ChainCursor, ChainLog

log = logging.getLogger(__name__)

# Enough to find a fork far deeper than any confirmation depth in use (Ponder waits
# 65 blocks); live logs' hashes reach further back still.
KEEP_CHECKPOINTS = 500
PAGE = 200


def live_logs(cursor: ChainCursor) -> QuerySet[ChainLog]:
    """The cursor's contract's logs that are still in force (not rolled back)."""
    return ChainLog.objects.filter(chain_id=cursor.chain_id, address=cursor.address).exclude(
        status=ChainLog.Status.ROLLED_BACK
    )


def stored_hash(cursor: ChainCursor, number: int) -> str | None:
    """The checkpointed hash of block ``number``, if sync kept one."""
    found: str | None = (
        ChainCheckpoint.objects.filter(cursor=cursor, block_number=number)
        .values_list("block_hash", flat=True)
        .first()
    )
    return found


def remembered_hashes(cursor: ChainCursor, below: int) -> Iterator[tuple[int, str]]:
    """(block, hash) pairs sync recorded at or below block ``below``, newest first:
    checkpoints and live logs' block hashes, a page at a time."""
    upper = below
    while upper >= 0:
        points = list(
            ChainCheckpoint.objects.filter(cursor=cursor, block_number__lte=upper)
            .order_by("-block_number")
            .values_list("block_number", "block_hash")[:PAGE]
        )
        logged = list(
            live_logs(cursor)
            .filter(block_number__lte=upper)
            .order_by("-block_number")
            .values_list("block_number", "block_hash")
            .distinct()[:PAGE]
        )
        pairs = sorted(set(points) | set(logged), reverse=True)
        if not pairs:
            return
        # A full page may have more pairs at its lowest block: take those next time.
        floor = max(page[-1][0] if len(page) == PAGE else -1 for page in (points, logged))
        for pair in pairs:
            if pair[0] <= floor:
                break
            yield pair
        if floor < 0:
            return
        upper = floor


def find_fork(node: SyncNode, cursor: ChainCursor, *, floor: int) -> int | None:
    """None if what sync has read is still on the node's chain; else the newest block
    whose remembered hash the node still has. ``floor`` (the block before the
    deployment) when none matches: then every log sync applied is orphaned."""
    mismatches = 0
    for number, remembered in remembered_hashes(cursor, cursor.next_block - 1):
        if number <= floor:
            break
        if node.block_hash(number) == remembered.lower():
            return None if mismatches == 0 else number
        mismatches += 1
    return None if mismatches == 0 else floor


def roll_back_above(cursor: ChainCursor, block: int) -> int:
    """Roll back every live log above ``block``, newest first, and forget the
    checkpoints there. The caller holds the cursor's row lock; returns the count."""
    orphaned = list(
        live_logs(cursor).filter(block_number__gt=block).order_by("-block_number", "-log_index")
    )
    for row in orphaned:
        rollback_log(row)
    ChainCheckpoint.objects.filter(cursor=cursor, block_number__gt=block).delete()
    if orphaned:
        log.warning(
            "chain %s reorg: rolled back %s log(s) above block %s",
            cursor.chain_id,
            len(orphaned),
            block,
        )
    return len(orphaned)


def store_checkpoints(cursor: ChainCursor, hashes: dict[int, str]) -> None:
    """Remember the newest ``KEEP_CHECKPOINTS`` of ``hashes`` and prune older ones."""
    newest = sorted(hashes.items(), reverse=True)[:KEEP_CHECKPOINTS]
    ChainCheckpoint.objects.bulk_create(
        [ChainCheckpoint(cursor=cursor, block_number=n, block_hash=h) for n, h in newest],
        update_conflicts=True,
        unique_fields=["cursor", "block_number"],
        update_fields=["block_hash"],
    )
    kept = ChainCheckpoint.objects.filter(cursor=cursor).order_by("-block_number")
    cutoff = kept.values_list("block_number", flat=True)[KEEP_CHECKPOINTS - 1 : KEEP_CHECKPOINTS]
    oldest_kept = next(iter(cutoff), None)
    if oldest_kept is not None:
        ChainCheckpoint.objects.filter(cursor=cursor, block_number__lt=oldest_kept).delete()
