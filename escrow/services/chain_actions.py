"""The chain rail's wallet actions: each checks the request and returns the unsigned
transactions for the party's own wallet, in the order to send them.

Nothing here changes a milestone or moves money. The state changes when chain sync
applies the contract's event, after ``CHAIN_CONFIRMATIONS`` blocks; until then the
milestone stays as it was. Submissions are stored up front (their files must be kept
somewhere) with the digest the transaction anchors, so sync can match the event to them.

Errors: ``wrong_rail``, ``contract_not_active``, ``invalid_transition``,
``escrow_not_created``, ``milestone_not_in_escrow``, ``amounts_mismatch``,
``chain_state_pending``, ``wallet_required``, ``wallet_mismatch`` (409);
``wrong_chain``, ``invalid_address``, ``invalid_release_amount`` (400); 403 for the
wrong party, 404 for someone else's milestone; ``chain_unavailable`` (503).
"""

from __future__ import annotations

from django.db import transaction

from escrow.chain import transactions as txs
from escrow.chain.transactions import UnsignedTransaction
from escrow.services import chain_checks as check
from escrow.services.chain_funding import prepare_funding
from escrow.services.chain_submission import prepare_submission, submission_digest
from escrow.services.chain_withdrawal import prepare_withdrawal, withdrawable
from marketplace.models import Milestone, RevisionRequest, User
from marketplace.money import format_amount
from smartpay import audit
from smartpay.errors import DomainError

__all__ = [
    "prepare_dispute",
    "prepare_funding",
    "prepare_refund",
    "prepare_release",
    "prepare_revision_request",
    "prepare_submission",
    "prepare_withdrawal",
    "submission_digest",
    "withdrawable",
]

S = Milestone.Status
HELD = (S.FUNDED, S.SUBMITTED)


def prepare_revision_request(
    *,
    actor: User,
    milestone_id: int,
    reason: str = "",
    sender: str | None = None,
    chain_id: int | None = None,
) -> list[UnsignedTransaction]:
    """The client's ``requestRevision``. A reason is kept for the freelancer to read once
    the milestone is funded again (the chain carries none)."""
    reason = check.checked_text(reason, required=None, name="reason")
    milestone, escrow, index, _, address = check.milestone_action(
        actor,
        milestone_id,
        roles=("client",),
        statuses=(S.SUBMITTED,),
        chain_statuses={"Submitted"},
        doing="sent back for a revision",
        sender=sender,
        chain_id=chain_id,
    )
    if reason:
        with transaction.atomic():
            asked = RevisionRequest.objects.create(
                milestone=milestone, reason=reason, requested_by=actor
            )
            audit.record(
                actor,
                "revision_request.noted",
                asked,
                after={"milestone": milestone.pk},
                note=reason,
            )
    return check.milestone_tx(
        txs.request_revision,
        escrow,
        index,
        address,
        f"Send “{milestone.title}” back to the freelancer for a revision.",
    )


def prepare_release(
    *,
    actor: User,
    milestone_id: int,
    amount: int | None = None,
    sender: str | None = None,
    chain_id: int | None = None,
) -> list[UnsignedTransaction]:
    """The client's ``release`` of all or part of a funded or submitted milestone; the
    part not released is credited back to the client."""
    milestone, escrow, index, _, address = check.milestone_action(
        actor,
        milestone_id,
        roles=("client",),
        statuses=HELD,
        chain_statuses={"Funded", "Submitted"},
        doing="released",
        sender=sender,
        chain_id=chain_id,
    )
    total = int(milestone.amount)
    amount = total if amount is None else int(amount)
    currency = milestone.contract.currency
    if amount < 1 or amount > total:
        raise DomainError(
            f"Release between 1 and {total} ({format_amount(total, currency)}).",
            code="invalid_release_amount",
        )
    text = f"Release {format_amount(amount, currency)} of “{milestone.title}” to the freelancer"
    if amount < total:
        text += f"; {format_amount(total - amount, currency)} is credited back to you"
    return check.milestone_tx(txs.release, escrow, index, address, text + ".", amount=amount)


def prepare_refund(
    *,
    actor: User,
    milestone_id: int,
    sender: str | None = None,
    chain_id: int | None = None,
) -> list[UnsignedTransaction]:
    """The freelancer's ``refund`` (funded or submitted), or the client's
    ``requestRefund`` (funded: the freelancer is asked to consent)."""
    milestone = check.party_milestone(actor, milestone_id)
    if milestone.contract.client_id == actor.pk:
        milestone, escrow, index, _, address = check.milestone_action(
            actor,
            milestone_id,
            roles=("client",),
            statuses=(S.FUNDED,),
            chain_statuses={"Funded"},
            doing="cancelled with a refund request",
            sender=sender,
            chain_id=chain_id,
        )
        return check.milestone_tx(
            txs.request_refund,
            escrow,
            index,
            address,
            f"Ask the freelancer to refund “{milestone.title}” to you.",
        )
    milestone, escrow, index, _, address = check.milestone_action(
        actor,
        milestone_id,
        roles=("freelancer",),
        statuses=HELD,
        chain_statuses={"Funded", "Submitted"},
        doing="refunded",
        sender=sender,
        chain_id=chain_id,
    )
    amount = format_amount(milestone.amount, milestone.contract.currency)
    return check.milestone_tx(
        txs.refund,
        escrow,
        index,
        address,
        f"Refund {amount} of “{milestone.title}” to the client.",
    )


def prepare_dispute(
    *,
    actor: User,
    milestone_id: int,
    sender: str | None = None,
    chain_id: int | None = None,
) -> list[UnsignedTransaction]:
    """Either party's ``dispute``: the milestone is locked until the arbiter splits it."""
    milestone, escrow, index, _, address = check.milestone_action(
        actor,
        milestone_id,
        roles=("client", "freelancer"),
        statuses=HELD,
        chain_statuses={"Funded", "Submitted"},
        doing="disputed",
        sender=sender,
        chain_id=chain_id,
    )
    return check.milestone_tx(
        txs.dispute,
        escrow,
        index,
        address,
        f"Open a dispute on “{milestone.title}”: its money stays locked until the arbiter decides.",
    )
