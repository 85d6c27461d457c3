"""Execute a split: an arbiter's decision, or a settlement both parties accepted.

Card rail: the ledger moves at once (escrow -> freelancer's gross share, minus the
platform fee; the rest back to the client's balance) and the milestone is resolved.
Chain rail: the platform's arbiter key sends ``resolve`` to the escrow contract; the
ledger and the milestone follow when chain sync reads ``Resolved``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from disputes.errors import NotArbiter, PartyCannotResolve, RationaleRequired
from disputes.models import BPS, Dispute, SettlementOffer
from disputes.services.common import (
    clean_text,
    close_open_offers,
    lock_dispute,
    notify,
    record,
    require_active,
    share_text,
    valid_share,
)
from escrow import ledger
from escrow.chain.arbiter import resolve_on_chain
from escrow.models import LedgerAccount
from escrow.services.holds import ensure_not_frozen
from escrow.services.release import release_locked
from marketplace import lifecycle
from marketplace.models import Contract, Milestone, User
from marketplace.money import Rail, format_amount
from marketplace.services.contracts import complete_contract_if_done, record_activity
from smartpay.errors import InvalidTransition, NotFoundError


def resolve_dispute(
    *, actor: User, dispute_id: int, freelancer_share_bps: int, rationale: str
) -> Dispute:
    """An arbiter (never a party) decides the split, with a rationale both parties read."""
    bps = valid_share(freelancer_share_bps)
    rationale = clean_text(rationale)
    if not rationale:
        raise RationaleRequired()
    with transaction.atomic(durable=True):
        contract, milestone, dispute = lock_dispute(dispute_id)
        if contract.is_party(actor):
            raise PartyCannotResolve()
        if not actor.is_arbiter:
            if actor.is_staff:
                raise NotArbiter()
            raise NotFoundError("No such dispute.")
        require_active(dispute)
        execute_split(
            contract, milestone, dispute, actor=actor, bps=bps, rationale=rationale, by_arbiter=True
        )
    return dispute


def execute_split(
    contract: Contract,
    milestone: Milestone,
    dispute: Dispute,
    *,
    actor: User | None,
    bps: int,
    rationale: str,
    by_arbiter: bool,
) -> None:
    """Close ``dispute`` with ``bps`` to the freelancer; the caller holds the contract,
    milestone and dispute locks (``lock_dispute``). ``actor`` is None when nobody decided
    (silence past the response deadline, card rail only)."""
    dispute.freelancer_share_bps = bps
    dispute.rationale = rationale
    dispute.resolved_by = actor
    if contract.rail == Rail.CHAIN:
        if actor is None:  # only an arbiter's key moves chain money
            raise NotArbiter("An arbiter must decide a chain-rail dispute.")
        resolve_on_chain(actor=actor, milestone_id=milestone.pk, freelancer_bps=bps, note=rationale)
        dispute.status = Dispute.Status.RESOLVING
        record(dispute, actor, "resolution_sent", f"{share_text(bps)}. {rationale}")
    else:
        summary = _split_on_card(contract, milestone, actor=actor, bps=bps, rationale=rationale)
        dispute.status = Dispute.Status.RESOLVED if by_arbiter else Dispute.Status.SETTLED
        dispute.resolved_at = timezone.now()
        record(dispute, actor, "resolved" if by_arbiter else "settled", f"{summary} {rationale}")
        complete_contract_if_done(contract)
    dispute.save()
    close_open_offers(dispute, SettlementOffer.Status.WITHDRAWN)
    notify(
        contract,
        [contract.client_id, contract.freelancer_id],
        "dispute_resolved",
        f"Dispute decided: {milestone.title}",
    )


def _split_on_card(
    contract: Contract, milestone: Milestone, *, actor: User | None, bps: int, rationale: str
) -> str:
    if milestone.status != Milestone.Status.DISPUTED:
        raise InvalidTransition(
            "Only a disputed milestone can be resolved; this one is "
            f"{milestone.get_status_display().lower()}."
        )
    ensure_not_frozen(milestone)
    escrow = ledger.escrow_account(milestone)
    # Only services holding this milestone's lock move its escrow: the balance is stable.
    held = int(escrow.balance)
    gross = held * bps // BPS
    note = f"Dispute decided: {share_text(bps)}"
    if gross > 0:
        # The freelancer's share, less the fee on it; release_locked returns the rest.
        release_locked(
            milestone,
            contract=contract,
            actor=actor,
            amount=gross,
            note=note,
            to_status=Milestone.Status.RESOLVED,
        )
    else:
        _return_all(contract, milestone, escrow, held)
        lifecycle.transition_milestone(milestone, Milestone.Status.RESOLVED, actor=actor, note=note)
    currency = contract.currency
    summary = (
        f"“{milestone.title}”: {share_text(bps)} ({format_amount(gross, currency)} before the "
        f"fee), {format_amount(held - gross, currency)} back to the client."
    )
    record_activity(contract, actor, "dispute_resolved", f"{summary} {rationale}")
    return summary


def _return_all(contract: Contract, milestone: Milestone, escrow: LedgerAccount, held: int) -> None:
    """Nothing to the freelancer: the whole escrow goes to the client's balance, as
    the remainder of a partial release does (no card refund: the client may pay it
    out or reuse it)."""
    available = ledger.user_account(
        contract.client, LedgerAccount.Kind.AVAILABLE, contract.currency
    )
    ledger.lock_accounts(escrow, available)
    if held:
        ledger.move(
            source=escrow,
            destination=available,
            amount=held,
            key=f"return:{milestone.pk}",
            memo=f"Return of “{milestone.title}” (dispute decided)",
        )


def close_chain_resolutions() -> int:
    """Close the chain-rail disputes whose ``Resolved`` event chain sync has applied
    (their milestone is resolved); returns how many. For a periodic task."""
    due = Dispute.objects.filter(
        status=Dispute.Status.RESOLVING, milestone__status=Milestone.Status.RESOLVED
    )
    closed = 0
    for dispute_id in due.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            contract, milestone, dispute = lock_dispute(dispute_id)
            if (
                dispute.status != Dispute.Status.RESOLVING
                or milestone.status != Milestone.Status.RESOLVED
            ):
                continue
            dispute.status = Dispute.Status.RESOLVED
            dispute.resolved_at = timezone.now()
            dispute.save(update_fields=["status", "resolved_at", "updated_at"])
            bps = int(dispute.freelancer_share_bps or 0)
            record(dispute, None, "resolved", f"The escrow contract paid {share_text(bps)}.")
            notify(
                contract,
                [contract.client_id, contract.freelancer_id],
                "dispute_resolved",
                f"Dispute resolved: {milestone.title}",
            )
            closed += 1
    return closed
