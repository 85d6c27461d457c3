"""Rolling back what an applied chain log did, for chain sync after a reorg.

Transfers are never edited: each is answered by a new one in the other direction,
keyed ``reorg:{original key}``, newest first. Milestone status is restored directly,
not through the lifecycle table (which has no way back from ``released``), and the
milestone's history gets an event saying why.
"""

from __future__ import annotations

from typing import Any

from escrow import ledger
from escrow.chain.apply_common import ChainLogRejected, parse_iso
from escrow.models import ChainEscrow, ChainLog, Transfer
from marketplace.models import Contract, Milestone, MilestoneEvent, Profile, Submission
from marketplace.services.contracts import lock_milestone, record_activity, workroom_url
from notifications.services import notify

ROLLBACK_NOTE = "rolled back: chain reorg"


def undo_effects(row: ChainLog) -> None:
    """Reverse ``row``'s transfers and restore what its ``undo`` recorded. Locks in
    the services' order: contract, milestone (or escrow), then ledger accounts."""
    undo: dict[str, Any] = row.undo
    contract: Contract | None = None
    milestone: Milestone | None = None
    escrow: ChainEscrow | None = None
    if "milestone" in undo:
        contract, milestone = lock_milestone(int(undo["milestone"]))
    elif "escrow" in undo:
        contract_id = ChainEscrow.objects.values_list("contract_id", flat=True).get(
            pk=undo["escrow"]
        )
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        escrow = ChainEscrow.objects.select_for_update().get(pk=undo["escrow"])
    _reverse_transfers(list(row.transfer_keys))
    if milestone is not None and "status" in undo:
        _restore_milestone(milestone, undo)
    if undo.get("submission"):
        _restore_submission(undo)
    if contract is not None and undo.get("contract_completed"):
        _reopen(contract)
    if escrow is not None:
        _restore_escrow(escrow, undo)
    if contract is not None:
        _announce(row, contract, milestone)


def _reverse_transfers(keys: list[str]) -> None:
    if not keys:
        return
    transfers = {
        t.idempotency_key: t
        for t in Transfer.objects.filter(idempotency_key__in=keys).select_related(
            "source", "destination"
        )
    }
    missing = [key for key in keys if key not in transfers]
    if missing:
        raise ChainLogRejected(f"Transfers to roll back are missing: {', '.join(missing)}.")
    ledger.lock_accounts(*(a for t in transfers.values() for a in (t.source, t.destination)))
    for key in reversed(keys):
        original = transfers[key]
        ledger.move(
            source=original.destination,
            destination=original.source,
            amount=int(original.amount),
            key=f"reorg:{key}",
            memo=f"Reorg: {original.memo}",
        )


def _restore_milestone(milestone: Milestone, undo: dict[str, Any]) -> None:
    current = milestone.status
    milestone.status = undo["status"]
    milestone.review_deadline = parse_iso(undo.get("review_deadline"))
    milestone.submitted_at = parse_iso(undo.get("submitted_at"))
    milestone.save(update_fields=["status", "review_deadline", "submitted_at", "updated_at"])
    MilestoneEvent.objects.create(
        milestone=milestone, from_status=current, to_status=undo["status"], note=ROLLBACK_NOTE
    )


def _restore_submission(undo: dict[str, Any]) -> None:
    found = Submission.objects.select_for_update().filter(pk=undo["submission"]).first()
    if found is None:
        return
    if undo.get("submission_created"):
        found.delete()  # made from the event alone; nothing else refers to it
        return
    found.anchored_block = undo.get("anchored_block")
    found.anchored_tx = undo.get("anchored_tx") or ""
    found.save(update_fields=["anchored_block", "anchored_tx"])


def _reopen(contract: Contract) -> None:
    """The contract completed on the strength of this event: active again."""
    locked = Contract.objects.select_for_update().get(pk=contract.pk)
    if locked.status != Contract.Status.COMPLETED:
        return
    locked.status = Contract.Status.ACTIVE
    locked.completed_at = None
    locked.save(update_fields=["status", "completed_at"])
    completed = Contract.objects.filter(
        freelancer_id=locked.freelancer_id, status=Contract.Status.COMPLETED
    ).count()
    Profile.objects.filter(user_id=locked.freelancer_id).update(completed_contracts=completed)
    contract.status, contract.completed_at = locked.status, locked.completed_at


def _restore_escrow(escrow: ChainEscrow, undo: dict[str, Any]) -> None:
    escrow.status = undo["escrow_status"]
    escrow.onchain_id = int(undo["onchain_id"])
    escrow.rejected_ids = list(undo["rejected_ids"])
    escrow.client_address = undo["client_address"]
    escrow.freelancer_address = undo["freelancer_address"]
    escrow.created_tx = undo["created_tx"]
    escrow.created_block = undo["created_block"]
    escrow.save()


def _announce(row: ChainLog, contract: Contract, milestone: Milestone | None) -> None:
    about = f" on “{milestone.title}”" if milestone is not None else ""
    summary = (
        f"A chain reorg removed block {row.block_number}: its {row.event}{about} no longer "
        "stands and was undone; SmartPay follows the chain as it is now."
    )
    record_activity(contract, None, "chain_reorg", summary)
    for user_id in (contract.client_id, contract.freelancer_id):
        notify(user_id, "chain_reorg", f"Chain reorg: {row.event} undone", workroom_url(contract))
