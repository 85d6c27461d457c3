"""Settlement offers: a party proposes a split, the other accepts or counters."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from disputes.models import Dispute, SettlementOffer
from disputes.services.assignment import auto_assign_locked
from disputes.services.common import (
    audit_log,
    lock_dispute,
    notify,
    other_party,
    record,
    require_active,
    share_text,
    state,
    valid_share,
)
from disputes.services.resolution import execute_split
from marketplace.models import User
from marketplace.money import Rail
from smartpay import audit
from smartpay.errors import InvalidTransition, NotAllowed, NotFoundError

Offer = SettlementOffer.Status


def propose_settlement(
    *, actor: User, dispute_id: int, freelancer_share_bps: int
) -> SettlementOffer:
    """Offer a split; it counters the other party's open offer and replaces one's own."""
    bps = valid_share(freelancer_share_bps)
    with transaction.atomic(durable=True):
        contract, _milestone, dispute = lock_dispute(dispute_id, actor=actor)
        require_active(dispute)
        now = timezone.now()
        open_offers = SettlementOffer.objects.select_for_update().filter(
            dispute=dispute, status=Offer.OPEN
        )
        for offer in open_offers.order_by("pk"):
            offer.status = Offer.WITHDRAWN if offer.proposed_by_id == actor.pk else Offer.COUNTERED
            offer.decided_at = now
            offer.save(update_fields=["status", "decided_at"])
        offer = SettlementOffer.objects.create(
            dispute=dispute, proposed_by=actor, freelancer_share_bps=bps
        )
        record(dispute, actor, "offer", f"{actor.display_name} offered {share_text(bps)}.")
        notify(dispute, [other_party(contract, actor)], "dispute_offer", "A settlement offer")
        audit.record(
            actor,
            "dispute.offer_made",
            offer,
            before=None,
            after=audit.snapshot(offer, ["dispute", "freelancer_share_bps", "status"]),
        )
    return offer


def accept_settlement(*, actor: User, offer_id: int) -> SettlementOffer:
    """The other party accepts an open offer; on the card rail the split executes at
    once and the dispute is settled. On the chain rail only the platform's arbiter key
    may send ``resolve``: the agreed split waits for an arbiter to send it."""
    dispute_id = (
        SettlementOffer.objects.filter(pk=offer_id).values_list("dispute_id", flat=True).first()
    )
    if dispute_id is None:
        raise NotFoundError("No such offer.")
    with transaction.atomic(durable=True):
        try:
            contract, milestone, dispute = lock_dispute(dispute_id, actor=actor)
        except NotFoundError:
            raise NotFoundError("No such offer.") from None
        require_active(dispute)
        offer = SettlementOffer.objects.select_for_update().get(pk=offer_id)
        if offer.proposed_by_id == actor.pk:
            raise NotAllowed("The other party accepts an offer.", code="own_offer")
        if offer.status != Offer.OPEN:
            raise InvalidTransition(f"This offer was {offer.get_status_display().lower()}.")
        before = state(dispute)
        offer.status = Offer.ACCEPTED
        offer.decided_at = timezone.now()
        offer.save(update_fields=["status", "decided_at"])
        bps = int(offer.freelancer_share_bps)
        agreed = f"{actor.display_name} accepted {share_text(bps)}."
        record(dispute, actor, "offer_accepted", agreed)
        if contract.rail == Rail.CHAIN:
            dispute.freelancer_share_bps = bps
            dispute.status = Dispute.Status.ESCALATED
            dispute.save(update_fields=["freelancer_share_bps", "status", "updated_at"])
            record(dispute, None, "escalated", "An arbiter sends the agreed split to the chain.")
            notify(dispute, [offer.proposed_by_id], "dispute_settled", "Your offer was accepted")
            if dispute.arbiter_id is None:
                auto_assign_locked(contract, dispute)
        else:
            execute_split(
                contract,
                milestone,
                dispute,
                actor=actor,
                bps=bps,
                rationale=f"Settled by agreement: {agreed}",
                by_arbiter=False,
            )
        audit_log(actor, "offer_accepted", dispute, before, note=f"Offer {offer.pk}: {agreed}")
    return offer
