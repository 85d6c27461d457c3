"""One batch of chain sync: fetch a block range's logs from the node and check the
answer (outside any transaction), then apply it under the cursor's row lock.

Nothing waits on the node while holding a lock (STYLE.md): the batch is fetched
first and committed only if the cursor is still where the fetch started and the
block below the batch still has the hash the fetch saw. Otherwise another sync got
there first (or a reorg moved the cursor) and the caller reads again, so two syncs
at once never apply a log twice.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from escrow.chain.apply import apply_log
from escrow.chain.events import to_chain_log
from escrow.chain.sync_node import NodeLied, SyncNode
from escrow.chain.sync_reorg import live_logs, roll_back_above, store_checkpoints, stored_hash
from escrow.models import ChainCursor, ChainLog

TX_CHUNK = 500  # tx hashes per IN (...) query: SQLite caps bound parameters
# Logs per transaction. PostgreSQL slows down sharply when one transaction updates the
# same hot rows (the chain rail's external account, the fee account) thousands of times
# and opens thousands of savepoints, so a batch with many logs commits in parts, cut
# at block boundaries (a block is never split).
MAX_LOGS_PER_COMMIT = 500


class ForkBelow(Exception):
    """The block below the batch no longer has the hash sync remembered: a reorg."""


class ChainMoved(Exception):
    """The node's chain changed while the batch was being read: read it again."""


class Outcome(enum.Enum):
    DONE = "done"  # applied; the cursor moved past the batch
    STALE = "stale"  # another sync moved the cursor first: nothing written
    REWOUND = "rewound"  # orphaned logs below the batch were rolled back; cursor moved back


@dataclass
class Batch:
    start: int
    stop: int
    stop_hash: str
    parent_hash: str | None  # the node's hash of block start - 1
    logs: list[ChainLog]  # decoded, unsaved, in (block, log index) order
    block_hashes: dict[int, str]  # every block that had logs
    seen: int  # logs the node returned, ours or not
    unknown: int  # logs whose topic is not a MilestoneEscrow event
    fetched_span: int = 0  # blocks asked of the node (on a batch's last part only)


@dataclass
class Tally:
    """What committing batches did, for the run's report."""

    duplicates: int = 0
    rolled_back: int = 0
    reorgs: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.duplicates += other.duplicates
        self.rolled_back += other.rolled_back
        self.reorgs += other.reorgs
        self.statuses.update(other.statuses)


def _hex(value: Any) -> str:
    return (value if isinstance(value, str) else "0x" + bytes(value).hex()).lower()


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def fetch_batch(node: SyncNode, cursor: ChainCursor, start: int, stop: int) -> Batch:
    """The contract's logs in ``[start, stop]``, checked and decoded.

    The batch's last block hash is read before the logs and the parent's after them,
    so a reorg while reading shows up as a mismatch rather than slipping through.
    """
    stop_hash = node.block_hash(stop)
    if stop_hash is None:
        raise ChainMoved(f"block {stop} is no longer on the node's chain")
    raw = node.logs(start, stop)
    parent_hash = node.block_hash(start - 1) if start > 0 else None
    if start > 0 and parent_hash is None:
        raise ChainMoved(f"block {start - 1} is no longer on the node's chain")
    remembered = stored_hash(cursor, start - 1)
    if remembered is not None and remembered != parent_hash:
        raise ForkBelow(f"block {start - 1} changed hash")
    block_hashes = _check(node, raw, start, stop)
    if block_hashes.get(stop, stop_hash) != stop_hash:
        raise ChainMoved(f"block {stop} changed hash while its logs were read")
    try:
        decoded = [to_chain_log(entry, cursor.chain_id) for entry in raw]
    except (KeyError, TypeError, ValueError) as error:
        raise NodeLied(
            f"The Ethereum node answered eth_getLogs for blocks {start}-{stop} with a log "
            f"that does not decode ({error!r}); nothing was applied."
        ) from error
    logs = sorted(
        (entry for entry in decoded if entry is not None),
        key=lambda entry: (entry.block_number, entry.log_index),
    )
    return Batch(
        start=start,
        stop=stop,
        stop_hash=stop_hash,
        parent_hash=parent_hash,
        logs=logs,
        block_hashes=block_hashes,
        seen=len(raw),
        unknown=len(raw) - len(logs),
        fetched_span=stop - start + 1,
    )


def split(batch: Batch, max_logs: int) -> list[Batch]:
    """``batch`` as consecutive parts of at most ``max_logs`` logs (more only when one
    block holds more), each ending at a block whose hash is known, so each part can be
    committed, checkpointed and resumed from on its own."""
    parts: list[Batch] = []
    start, parent, taken = batch.start, batch.parent_hash, 0
    logs = batch.logs
    for index in range(len(logs) - 1):
        block = logs[index].block_number
        if index + 1 - taken >= max_logs and logs[index + 1].block_number != block:
            block_hash = batch.block_hashes[block]
            part_logs = logs[taken : index + 1]
            parts.append(
                Batch(
                    start=start,
                    stop=block,
                    stop_hash=block_hash,
                    parent_hash=parent,
                    logs=part_logs,
                    block_hashes={
                        n: h for n, h in batch.block_hashes.items() if start <= n <= block
                    },
                    seen=len(part_logs),
                    unknown=0,
                )
            )
            start, parent, taken = block + 1, block_hash, index + 1
    rest = logs[taken:]
    parts.append(
        Batch(
            start=start,
            stop=batch.stop,
            stop_hash=batch.stop_hash,
            parent_hash=parent,
            logs=rest,
            block_hashes={n: h for n, h in batch.block_hashes.items() if n >= start},
            seen=batch.seen - taken,
            unknown=batch.unknown,
            fetched_span=batch.fetched_span,
        )
    )
    return parts


def _check(node: SyncNode, raw: list[dict[str, Any]], start: int, stop: int) -> dict[int, str]:
    """Refuse an answer that contradicts the request or itself; return each block's hash."""
    hashes: dict[int, str] = {}
    identities: set[tuple[str, int]] = set()
    ours = node.address.lower()
    for entry in raw:
        try:
            number = _int(entry["blockNumber"])
            block_hash = _hex(entry["blockHash"])
            identity = (_hex(entry["transactionHash"]), _int(entry["logIndex"]))
        except (KeyError, TypeError, ValueError) as error:
            raise NodeLied(
                f"The Ethereum node answered eth_getLogs for blocks {start}-{stop} with a "
                f"malformed log ({error!r}); nothing was applied."
            ) from error
        problem = None
        if not start <= number <= stop:
            problem = f"a log of block {number}"
        elif str(entry["address"]).lower() != ours:
            problem = f"a log of another contract ({entry['address']})"
        elif entry.get("removed"):
            problem = "a removed log"
        elif hashes.setdefault(number, block_hash) != block_hash:
            problem = f"two hashes for block {number}"
        elif identity in identities:
            problem = f"log {identity[0]}:{identity[1]} twice"
        if problem:
            raise NodeLied(
                f"The Ethereum node answered eth_getLogs for blocks {start}-{stop} with "
                f"{problem}; nothing was applied."
            )
        identities.add(identity)
    return hashes


def commit_batch(cursor_id: int, batch: Batch, tally: Tally, *, head: int, grow_to: int) -> Outcome:
    """Apply ``batch`` in one transaction holding the cursor's row lock; ``tally`` counts
    what it did only once that transaction has committed."""
    done = Tally()
    with transaction.atomic():
        outcome = _commit(cursor_id, batch, done, head=head, grow_to=grow_to)
    tally.add(done)
    return outcome


def _commit(cursor_id: int, batch: Batch, tally: Tally, *, head: int, grow_to: int) -> Outcome:
    """The body of ``commit_batch``, inside its transaction."""
    cursor = ChainCursor.objects.select_for_update().get(pk=cursor_id)
    if cursor.next_block != batch.start:
        return Outcome.STALE
    remembered = stored_hash(cursor, batch.start - 1)
    if remembered is not None and remembered != batch.parent_hash:
        return Outcome.STALE
    live = _live_rows(cursor, batch)
    orphaned_from = _orphaned_from(batch, live)
    if orphaned_from is not None:
        # The node shows these blocks differently from when sync read them: a
        # reorg not seen from the blocks below (e.g. re-reading with --from-block).
        tally.rolled_back += roll_back_above(cursor, orphaned_from - 1)
        tally.reorgs += 1
        if orphaned_from < batch.start:
            cursor.next_block = orphaned_from
            cursor.save(update_fields=["next_block", "updated_at"])
            return Outcome.REWOUND
        live = {key: row for key, row in live.items() if row[0] < orphaned_from}
    for entry in batch.logs:
        if (entry.tx_hash, entry.log_index) in live:
            tally.duplicates += 1
            continue
        tally.statuses[apply_log(entry).status] += 1
    hashes = dict(batch.block_hashes)
    hashes[batch.stop] = batch.stop_hash
    if batch.parent_hash is not None and remembered is None:
        hashes[batch.start - 1] = batch.parent_hash
    store_checkpoints(cursor, hashes)
    cursor.next_block = batch.stop + 1
    if batch.fetched_span >= cursor.batch_size:
        cursor.batch_size = min(grow_to, max(1, cursor.batch_size) * 2)
    cursor.head_block = head
    cursor.last_synced_at = timezone.now()
    cursor.last_error = ""
    cursor.save()
    return Outcome.DONE


def _live_rows(cursor: ChainCursor, batch: Batch) -> dict[tuple[str, int], tuple[int, str]]:
    """Live rows in the batch's blocks or of its transactions: (tx, index) → (block, hash)."""
    tx_hashes = sorted({entry.tx_hash for entry in batch.logs})
    found: dict[tuple[str, int], tuple[int, str]] = {}
    chunks = [tx_hashes[i : i + TX_CHUNK] for i in range(0, len(tx_hashes), TX_CHUNK)] or [[]]
    for number, chunk in enumerate(chunks):
        where = Q(tx_hash__in=chunk)
        if number == 0:
            where |= Q(block_number__gte=batch.start, block_number__lte=batch.stop)
        rows = live_logs(cursor).filter(where)
        for tx_hash, index, block, block_hash in rows.values_list(
            "tx_hash", "log_index", "block_number", "block_hash"
        ):
            found[(tx_hash, index)] = (block, block_hash)
    return found


def _orphaned_from(batch: Batch, live: dict[tuple[str, int], tuple[int, str]]) -> int | None:
    """The lowest block of a live row the node no longer shows as it was, if any."""
    fetched = {(entry.tx_hash, entry.log_index): entry.block_hash for entry in batch.logs}
    orphaned = [
        block
        for identity, (block, block_hash) in live.items()
        if fetched.get(identity) != block_hash
    ]
    return min(orphaned) if orphaned else None
