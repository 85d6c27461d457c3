"""Following platform-key transactions to confirmation, and sending what is due.

``track_chain_transactions`` is the periodic half of ``arbiter_send``: it reads the
receipt of every sent or mined row (reverted → failed and the admins mailed; mined →
its block; deep enough → confirmed), notices a transaction the node dropped or a
reorg took back, and sends queued rows whose task never ran or whose retry is due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception

from escrow.chain import node
from escrow.chain.arbiter_errors import revert_in_words
from escrow.chain.arbiter_outcome import record_failed, scrub
from escrow.chain.arbiter_send import call_of, claimable, send_chain_transaction
from escrow.models import ChainTransaction
from escrow.services import audited
from marketplace.models import User
from smartpay import audit

log = logging.getLogger(__name__)
Status = ChainTransaction.Status
BATCH = 100


@dataclass
class TrackResult:
    """Counts of one run, by what happened to the rows."""

    counts: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def add(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def track_chain_transactions(*, now: datetime | None = None) -> TrackResult:
    """One pass over the rows in flight, then the queued rows that are due."""
    now = now or timezone.now()
    result = TrackResult()
    in_flight = list(
        ChainTransaction.objects.filter(status__in=[Status.SENT, Status.MINED]).order_by("pk")[
            :BATCH
        ]
    )
    if in_flight:
        try:
            w3 = node.web3()
            head = int(w3.eth.block_number)
            for row in in_flight:
                result.add(track_one(w3, row, head, now=now))
        except (node.ChainUnavailable, OSError, Web3Exception) as error:
            detail = error.detail if isinstance(error, node.ChainUnavailable) else str(error)
            result.error = scrub(f"The node could not be read: {detail}")
            log.warning("tracking chain transactions: %s", result.error)
    due = list(
        ChainTransaction.objects.filter(claimable(now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for tx_id in due:
        result.add(f"attempted, now {send_chain_transaction(tx_id, now=now).status}")
    return result


def track_one(w3: Web3, row: ChainTransaction, head: int, *, now: datetime | None = None) -> str:
    """Move one sent or mined row on by its receipt; returns what happened, in a word."""
    try:
        receipt: Any = w3.eth.get_transaction_receipt(row.tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        receipt = None
    if receipt is None:
        return _not_mined(w3, row, now or timezone.now())
    block = int(receipt["blockNumber"])
    if int(receipt["status"]) != 1:
        reason = _revert_reason(w3, row, block)
        ChainTransaction.objects.filter(pk=row.pk, status=row.status).update(block_number=block)
        record_failed(
            row.pk,
            f"The transaction reverted in block {block}: {reason}.",
            release_nonce=False,  # a mined transaction used its nonce
        )
        return "reverted"
    confirmations = max(0, int(settings.CHAIN_CONFIRMATIONS))
    status = Status.CONFIRMED if block <= head - confirmations else Status.MINED
    if status == row.status and block == row.block_number:
        return "unchanged"
    with transaction.atomic():
        before = audit.snapshot(row, audited.CHAIN_TRANSACTION)
        moved = ChainTransaction.objects.filter(pk=row.pk, status=row.status).update(
            status=status, block_number=block, last_error="", updated_at=timezone.now()
        )
        if moved and status == Status.CONFIRMED:
            row.refresh_from_db()
            audit.record(
                None,
                "chain_transaction.confirmed",
                row,
                before=before,
                after=audit.snapshot(row, audited.CHAIN_TRANSACTION),
            )
    return str(status)


def _not_mined(w3: Web3, row: ChainTransaction, now: datetime) -> str:
    """No receipt: still pending, dropped by the node, or taken back by a reorg."""
    sender = Web3.to_checksum_address(row.from_address)
    if _known(w3, row.tx_hash):
        if row.status == Status.MINED:  # a reorg put it back into the mempool
            ChainTransaction.objects.filter(pk=row.pk, status=Status.MINED).update(
                status=Status.SENT, block_number=None, updated_at=timezone.now()
            )
            return "back to pending (reorg)"
        return "pending"
    used = int(w3.eth.get_transaction_count(sender, "latest"))
    if row.nonce is not None and used > row.nonce:
        record_failed(
            row.pk,
            f"Nonce {row.nonce} was used by another transaction from {sender}; "
            f"{row.tx_hash} was never mined. Check the escrow on chain before queueing again.",
            release_nonce=False,
        )
        return "failed (nonce used elsewhere)"
    # The node forgot it (restart, mempool eviction): send it again with the same nonce.
    ChainTransaction.objects.filter(pk=row.pk, status=row.status).update(
        status=Status.QUEUED,
        block_number=None,
        next_attempt_at=now,
        last_error=f"The node dropped {row.tx_hash}; it is sent again with nonce {row.nonce}.",
        updated_at=timezone.now(),
    )
    return "requeued (dropped by the node)"


def _known(w3: Web3, tx_hash: str) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    return True


def _revert_reason(w3: Web3, row: ChainTransaction, block: int) -> str:
    """Replay the call to name the custom error it reverted with."""
    call = call_of(row)
    try:
        # The state at the end of its block: whatever made it revert happened by then.
        w3.eth.call(call, block_identifier=block)
    except ContractLogicError as error:
        return revert_in_words(error.data, fallback=str(error.message or error))
    except (OSError, Web3Exception):
        pass
    return "no reason could be read (out of gas, or the state changed within the block)"


def retry_chain_transaction(tx_id: int, *, actor: User | None = None) -> ChainTransaction:
    """Staff's "Retry now" (``actor``): a failed row is queued again (fresh nonce,
    attempts from zero) and sent; a queued one is sent without waiting out its backoff;
    a sent or mined one has its receipt read now. A confirmed one is left alone."""
    row = ChainTransaction.objects.get(pk=tx_id)
    if row.status == Status.FAILED:
        with transaction.atomic():
            before = audit.snapshot(row, audited.CHAIN_TRANSACTION)
            requeued = ChainTransaction.objects.filter(pk=tx_id, status=Status.FAILED).update(
                status=Status.QUEUED,
                nonce=None,
                tx_hash="",
                gas=None,
                block_number=None,
                attempts=0,
                last_error="",
                next_attempt_at=timezone.now(),
                updated_at=timezone.now(),
            )
            if requeued:
                row.refresh_from_db()
                audit.record(
                    actor,
                    "chain_transaction.requeued",
                    row,
                    before=before,
                    after=audit.snapshot(row, audited.CHAIN_TRANSACTION),
                )
        return send_chain_transaction(tx_id)
    if row.status == Status.QUEUED:
        return send_chain_transaction(tx_id, now_not_later=True)
    if row.status in (Status.SENT, Status.MINED):
        try:
            w3 = node.web3()
            track_one(w3, row, int(w3.eth.block_number))
        except (OSError, Web3Exception) as error:
            raise node.ChainUnavailable(scrub(f"The node could not be read: {error}")) from None
    return ChainTransaction.objects.get(pk=tx_id)


def pending_count() -> int:
    """Rows not final yet (for the admin's overview)."""
    return ChainTransaction.objects.filter(~Q(status__in=[Status.CONFIRMED, Status.FAILED])).count()
