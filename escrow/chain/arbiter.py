"""Arbiter resolutions on the chain rail: the platform key sends ``resolve``.

A disputed chain-rail milestone is split by the escrow contract itself; only the
escrow's arbiter (the platform key, ``CHAIN_ARBITER_KEY``) may call ``resolve``.
``resolve_on_chain`` writes the intent — a queued ``ChainTransaction`` keyed by the
escrow and milestone — and on commit hands it to a Celery task; the money and the
milestone's status move later, when chain sync reads the ``Resolved`` event, exactly as
for every other chain event.

Sending (``arbiter_send``) and tracking to confirmation (``arbiter_track``) live in
their own modules; both are re-exported here.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from web3 import Web3

from escrow.chain import node
from escrow.chain.arbiter_send import send_chain_transaction
from escrow.chain.arbiter_track import retry_chain_transaction, track_chain_transactions
from escrow.models import ChainEscrow, ChainTransaction
from escrow.services import audited
from marketplace.models import Milestone, User
from marketplace.money import Rail, format_amount
from marketplace.services.contracts import lock_milestone, record_activity
from smartpay import audit
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotAllowed

__all__ = [
    "InvalidShare",
    "resolve_on_chain",
    "retry_chain_transaction",
    "send_chain_transaction",
    "split",
    "track_chain_transactions",
]

log = logging.getLogger(__name__)

BPS = 10_000
RESOLVE = "resolve"
# Rows that still stand for a resolution (a failed one may be asked for again).
LIVE = (
    ChainTransaction.Status.QUEUED,
    ChainTransaction.Status.SENT,
    ChainTransaction.Status.MINED,
    ChainTransaction.Status.CONFIRMED,
)


class InvalidShare(DomainError):
    code = "invalid_share"
    default_detail = "The freelancer's share is a whole number of basis points, 0 to 10000."


def split(amount: int, freelancer_bps: int, fee_bps: int) -> tuple[int, int, int]:
    """(to the freelancer, fee, back to the client) exactly as the contract computes
    them: the fee and the freelancer's gross share round down, so no wei is lost."""
    gross = amount * freelancer_bps // BPS
    fee = gross * fee_bps // BPS
    return gross - fee, fee, amount - gross


def resolve_on_chain(
    *, actor: User, milestone_id: int, freelancer_bps: int, note: str = ""
) -> ChainTransaction:
    """Queue the arbiter's ``resolve(onchainId, index, freelancer_bps)`` for a disputed
    chain-rail milestone; returns the ``ChainTransaction`` (status queued).

    Asking again with the same share returns the same row; another share while one is
    queued, on its way or done is a 409; a failed one is queued again with the new
    share. Not durable: the disputes app calls it inside its own resolution.
    """
    bps = _valid_share(freelancer_bps)
    if not getattr(actor, "is_arbiter", False):
        raise NotAllowed("Only arbiters may resolve disputes.", code="not_arbiter")
    with transaction.atomic():
        contract, milestone = lock_milestone(milestone_id)
        if contract.is_party(actor):
            raise NotAllowed(
                "An arbiter may not resolve a dispute on their own contract.", code="party"
            )
        if contract.rail != Rail.CHAIN:
            raise Conflict("This milestone is not paid on the chain rail.", code="wrong_rail")
        escrow = ChainEscrow.objects.filter(
            contract=contract, status=ChainEscrow.Status.CREATED
        ).first()
        if escrow is None:
            raise Conflict(
                "This contract's escrow has not been created on chain.", code="escrow_not_created"
            )
        if milestone.pk not in escrow.milestone_ids:
            raise Conflict(
                "This milestone is not part of the on-chain escrow.", code="not_escrowed"
            )
        index = escrow.milestone_ids.index(milestone.pk)
        key = f"{RESOLVE}:{escrow.chain_id}:{int(escrow.onchain_id)}:{index}"
        existing = ChainTransaction.objects.select_for_update().filter(key=key).first()
        if existing is not None and existing.status in LIVE:
            return _replayed(existing, bps)
        if milestone.status != Milestone.Status.DISPUTED:
            raise InvalidTransition(
                f"Only a disputed milestone can be resolved; this one is "
                f"{milestone.get_status_display().lower()}.",
            )
        fields = _transaction_fields(escrow, index, bps)
        now = timezone.now()
        if existing is None:
            row = ChainTransaction.objects.create(
                key=key, kind=RESOLVE, milestone=milestone, next_attempt_at=now, **fields
            )
        else:  # failed before: the arbiter asks again
            row = _requeue(existing, fields, now)
        freelancer, fee, back = split(int(milestone.amount), bps, contract.fee_bps)
        currency = contract.currency
        summary = (
            f"Arbiter resolution of “{milestone.title}” sent to the escrow contract: "
            f"{bps / 100:g} % to the freelancer ({format_amount(freelancer, currency)} after "
            f"a {format_amount(fee, currency)} fee), {format_amount(back, currency)} back to "
            "the client."
        )
        if note:
            summary = f"{summary} {note}"
        record_activity(contract, actor, "resolution_queued", summary)
        after = {**audit.snapshot(row, audited.CHAIN_TRANSACTION), "freelancer_bps": bps}
        audit.record(actor, "chain_transaction.queued", row, after=after, note=summary)
        row_id = row.pk
        transaction.on_commit(lambda: enqueue_send(row_id))
    log.info("resolution of milestone %s queued as chain transaction %s", milestone_id, row.pk)
    return row


def _valid_share(freelancer_bps: object) -> int:
    if isinstance(freelancer_bps, bool):
        raise InvalidShare()
    try:
        bps = int(freelancer_bps)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise InvalidShare() from exc
    if bps != freelancer_bps or not 0 <= bps <= BPS:
        raise InvalidShare()
    return bps


def _transaction_fields(escrow: ChainEscrow, index: int, bps: int) -> dict[str, object]:
    deployment = node.deployment(escrow.chain_id)
    # Encoding needs only the ABI: no node is reached while the rows are locked.
    calldata = node.escrow_contract(Web3(), deployment.address).encode_abi(
        "resolve", args=[int(escrow.onchain_id), index, bps]
    )
    return {
        "chain_id": escrow.chain_id,
        "from_address": node.arbiter_address(),
        "to_address": Web3.to_checksum_address(deployment.address),
        "data": calldata,
        "value": 0,
    }


def resolve_share(row: ChainTransaction) -> int | None:
    """The freelancer share (bps) a resolve transaction carries, read from its calldata."""
    try:
        function, args = node.escrow_contract(Web3(), row.to_address).decode_function_input(
            row.data
        )
    except ValueError:
        return None
    return int(args["freelancerBps"]) if function.fn_name == RESOLVE else None


def _replayed(row: ChainTransaction, bps: int) -> ChainTransaction:
    asked = resolve_share(row)
    if asked != bps:
        shown = "another share" if asked is None else f"{asked / 100:g} %"
        raise Conflict(
            f"This milestone is already being resolved on chain with {shown} to the "
            f"freelancer ({row.get_status_display().lower()}).",
            code="resolution_pending",
        )
    return row


def _requeue(row: ChainTransaction, fields: dict[str, object], now: datetime) -> ChainTransaction:
    for name, value in fields.items():
        setattr(row, name, value)
    row.status = ChainTransaction.Status.QUEUED
    row.nonce = None
    row.gas = None
    row.tx_hash = ""
    row.block_number = None
    row.attempts = 0
    row.last_error = ""
    row.next_attempt_at = now
    row.save()
    return row


def enqueue_send(tx_id: int) -> None:
    """Hand the row to a worker; a broker outage only delays it (the tracker sends
    queued rows that are due)."""
    from escrow.tasks_arbiter import send_chain_transaction_task

    try:
        send_chain_transaction_task.delay(tx_id)
    except Exception:
        log.exception("could not enqueue chain transaction %s; the tracker will send it", tx_id)
