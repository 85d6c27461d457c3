"""Apply a decoded MilestoneEscrow log to the ledger and the milestones, or roll it back.

Chain sync calls these inside its own transaction, one log at a time in chain order,
after it has skipped logs it already holds:

* ``apply_log(log)`` runs the event's handler in a savepoint and saves the row:
  APPLIED with the transfers it wrote and what to undo; IGNORED (not one of ours,
  with a note why); or FAILED when our records cannot follow the chain (the savepoint
  leaves nothing half-written, and ADMINS are mailed once the row is committed).
  Database errors propagate, including the IntegrityError of a second live row for
  the same (chain id, tx hash, log index), and so does ``ChainUnavailable`` (the
  chain rail's settings are incomplete): nothing is saved, and the log is retried.
* ``rollback_log(log)`` undoes an applied row after a reorg: its transfers reversed
  under ``reorg:{key}``, the milestone, submission, contract and escrow restored from
  ``undo``. Sync calls it newest first.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from escrow.chain.apply_common import ignore
from escrow.chain.apply_escrows import apply_escrow_created
from escrow.chain.apply_milestones import (
    apply_disputed,
    apply_funded,
    apply_refund_requested,
    apply_refunded,
    apply_released,
    apply_resolved,
    apply_revision_requested,
    apply_submitted,
)
from escrow.chain.apply_undo import undo_effects
from escrow.chain.apply_withdrawals import apply_withdrawn
from escrow.chain.node import ChainUnavailable
from escrow.models import ChainEscrow, ChainLog
from smartpay import audit
from smartpay.errors import DomainError

logger = logging.getLogger(__name__)

Handler = Callable[[ChainLog, ChainEscrow], None]

# Events about one milestone of an accepted escrow.
MILESTONE_HANDLERS: dict[str, Handler] = {
    "Funded": apply_funded,
    "Submitted": apply_submitted,
    "RevisionRequested": apply_revision_requested,
    "RefundRequested": apply_refund_requested,
    "Disputed": apply_disputed,
    "Released": apply_released,
    "Resolved": apply_resolved,
    "Refunded": apply_refunded,
}
OTHER_HANDLERS: dict[str, Callable[[ChainLog, ChainEscrow | None], None]] = {
    "EscrowCreated": apply_escrow_created,
    "Withdrawn": apply_withdrawn,
}


def _in_transaction() -> contextlib.AbstractContextManager[object]:
    """The caller's transaction if there is one, else one of our own."""
    if transaction.get_connection().in_atomic_block:
        return contextlib.nullcontext()
    return transaction.atomic()


def apply_log(log: ChainLog) -> ChainLog:
    """Apply the unsaved ``log`` and save it with its outcome (see the module docstring)."""
    log.status, log.note, log.transfer_keys, log.undo = ChainLog.Status.APPLIED, "", [], {}
    with _in_transaction():
        try:
            with transaction.atomic():
                _dispatch(log)
        except ChainUnavailable:
            raise  # configuration or node trouble: sync retries the log, it is not FAILED
        except DomainError as error:
            _fail(log, error)
        log.save()
        if log.status == ChainLog.Status.FAILED:
            _mail_admins_on_commit(log)
    return log


def _dispatch(log: ChainLog) -> None:
    escrow = _escrow_of(log)
    log.escrow = escrow
    other = OTHER_HANDLERS.get(log.event)
    if other is not None:
        other(log, escrow)
        return
    handler = MILESTONE_HANDLERS.get(log.event)
    if handler is None:
        ignore(log, f"{log.event} changes nothing in SmartPay's records.")
    elif escrow is None:
        ignore(log, f"Escrow {log.args['contractId']} is not one of ours.")
    elif escrow.status != ChainEscrow.Status.CREATED:
        ignore(
            log,
            f"Escrow {log.args['contractId']} was not accepted as contract "
            f"{escrow.contract_id}'s escrow.",
        )
    else:
        handler(log, escrow)


def _escrow_of(log: ChainLog) -> ChainEscrow | None:
    if "contractId" not in log.args:
        return None
    return ChainEscrow.objects.filter(
        chain_id=log.chain_id, onchain_id=int(log.args["contractId"])
    ).first()


def _fail(log: ChainLog, error: DomainError) -> None:
    log.status = ChainLog.Status.FAILED
    log.note = f"{error.code}: {error.detail}"
    log.transfer_keys, log.undo = [], {}
    logger.warning("chain log %s:%s failed: %s", log.tx_hash, log.log_index, log.note)


def _mail_admins_on_commit(log: ChainLog) -> None:
    subject = f"Chain log {log.pk} failed: {log.event} in block {log.block_number}"
    body = (
        f"Chain sync could not apply chain log {log.pk} ({log.event}) and saved it as "
        f"failed, so the ledger may disagree with the chain until staff act.\n\n"
        f"Reason: {log.note}\n"
        f"Chain {log.chain_id}, contract {log.address}\n"
        f"Transaction {log.tx_hash}, log index {log.log_index}\n"
        f"Block {log.block_number} ({log.block_hash})\n"
    )
    transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))


def rollback_log(log: ChainLog) -> None:
    """Undo a saved live row after a reorg; rolling back a rolled-back row does nothing.

    Raises DomainError (InsufficientFunds) if money the row credited has since left
    an account by a route sync does not roll back; the caller's transaction then
    undoes everything, and the reorg must be handled by staff.
    """
    with _in_transaction():
        row = ChainLog.objects.select_for_update().get(pk=log.pk)
        if row.status != ChainLog.Status.ROLLED_BACK:
            if row.status != ChainLog.Status.FAILED and (row.transfer_keys or row.undo):
                undo_effects(row)
            before = audit.snapshot(row, ["status", "event", "tx_hash", "block_number"])
            row.status = ChainLog.Status.ROLLED_BACK
            row.rolled_back_at = timezone.now()
            row.save(update_fields=["status", "rolled_back_at"])
            after = audit.snapshot(row, ["status", "event", "tx_hash", "block_number"])
            audit.record(None, "chain_log.rolled_back", row, before=before, after=after)
        log.status, log.rolled_back_at = row.status, row.rolled_back_at
