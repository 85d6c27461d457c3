"""Execute a split: an arbiter's decision that stands, or a settlement both parties
accepted.

Card rail: the ledger moves at once (escrow -> freelancer's gross share, minus the
platform fee; the rest back to the client's balance) and the milestone is resolved.
Chain rail: the platform's arbiter key sends ``resolve`` to the escrow contract; the
ledger and the milestone follow when chain sync reads ``Resolved``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from disputes.errors import NotArbiter
from disputes.models import BPS, Dispute, SettlementOffer
from disputes.services.common import (
    audit_log,
    close_open_offers,
    lock_dispute,
    notify,
    record,
    share_text,
    state,
)
from escrow import ledger
from escrow.chain.arbiter import resolve_on_chain
from escrow.services.holds import ensure_not_frozen
from escrow.services.refunds import refund_locked
from escrow.services.release import release_locked
from marketplace.models import Contract, Milestone, User
from marketplace.money import Rail, format_amount
from marketplace.services.contracts import complete_contract_if_done, record_activity
from smartpay.errors import InvalidTransition


def execute_split(
    contract: Contract,
    milestone: Milestone,
    dispute: Dispute,
    *,
    actor: User | None,
    bps: int,
    rationale: str,
    by_arbiter: bool,
    arbiter: User | None = None,
    announce: bool = True,
) -> None:
    """Close ``dispute`` with ``bps`` to the freelancer; the caller holds the contract,
    milestone and dispute locks (``lock_dispute``). ``actor`` is who acts now (None: the
    platform, e.g. when the appeal window lapses or silence decides); ``arbiter`` is
    whose decision this is (it defaults to ``actor``), and on the chain rail the
    platform's arbiter key sends ``resolve`` on their behalf. ``announce=False`` leaves
    telling the parties to the caller (who sends the decision with its rationale)."""
    decider = arbiter or actor
    dispute.freelancer_share_bps = bps
    dispute.rationale = rationale
    dispute.resolved_by = decider
    if contract.rail == Rail.CHAIN:
        if decider is None:  # only an arbiter's key moves chain money
            raise NotArbiter("An arbiter must decide a chain-rail dispute.")
        resolve_on_chain(
            actor=decider, milestone_id=milestone.pk, freelancer_bps=bps, note=rationale
        )
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
    if announce:
        notify(
            dispute,
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
    currency = contract.currency
    if gross > 0:
        # The freelancer's share, less the fee on it; release_locked returns the rest
        # to the client's balance.
        release_locked(
            milestone,
            contract=contract,
            actor=actor,
            amount=gross,
            note=note,
            to_status=Milestone.Status.RESOLVED,
        )
        back = f"{format_amount(held - gross, currency)} back to the client's balance"
    else:
        # Nothing to the freelancer: a full refund, back the way the milestone was paid.
        refund = refund_locked(
            milestone,
            contract=contract,
            actor=actor,
            destination=None,
            to_status=Milestone.Status.RESOLVED,
        )
        where = "card" if refund.destination == refund.Destination.CARD else "balance"
        back = f"{format_amount(held, currency)} refunded to the client's {where}"
    summary = (
        f"“{milestone.title}”: {share_text(bps)} ({format_amount(gross, currency)} before the "
        f"fee), {back}."
    )
    record_activity(contract, actor, "dispute_resolved", f"{summary} {rationale}")
    return summary


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
            before = state(dispute)
            dispute.status = Dispute.Status.RESOLVED
            dispute.resolved_at = timezone.now()
            dispute.save(update_fields=["status", "resolved_at", "updated_at"])
            bps = int(dispute.freelancer_share_bps or 0)
            record(dispute, None, "resolved", f"The escrow contract paid {share_text(bps)}.")
            notify(
                dispute,
                [contract.client_id, contract.freelancer_id],
                "dispute_resolved",
                f"Dispute resolved: {milestone.title}",
            )
            audit_log(None, "resolved", dispute, before, note="The escrow contract paid the split.")
            closed += 1
    return closed
